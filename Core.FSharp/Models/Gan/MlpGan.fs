/// The fully connected GAN of seed 004 (sizes configurable; seed 003's small one is
/// --latent 16 --gen-hidden 300 --disc-hidden 300):
///   G: z -> 128 -> 256 -> 512 -> 1024 -> pixels, LeakyReLU(0.2) after each hidden layer and
///      BatchNorm before it on all but the first, tanh out;
///   D: pixels -> 512 -> 256 -> 1 logit, LeakyReLU(0.2) and dropout after each hidden layer.
module Research.Core.Models.Gan.MlpGan

open Research.Core
open Research.Core.Data
open Research.Core.Nn

let private slope = 0.2

let create (generator: Generator) (config: GanConfig) (image: ImageShape) =
    let dropout = Dropout.create config.Dropout
    // G: (linear, batch norm on all but the first hidden layer) per hidden layer, then the output layer.
    let gSizes = config.Latent :: config.GeneratorHidden
    let gHidden =
        [ for i, (a, b) in List.indexed (List.pairwise gSizes) ->
              Linear.create (generator, a, b), (if i = 0 then None else Some(BatchNorm.create1d b)) ]
    let gOut = Linear.create (generator, List.last config.GeneratorHidden, image.Pixels)
    let dSizes = image.Pixels :: config.DiscriminatorHidden
    let dHidden = [ for a, b in List.pairwise dSizes -> Linear.create (generator, a, b) ]
    let dOut = Linear.create (generator, List.last config.DiscriminatorHidden, 1)
    let generate (training: bool) (z: Tensor) =
        let h =
            gHidden
            |> List.fold
                (fun h (linear: Linear, norm: BatchNorm option) ->
                    let h = linear.forward h
                    let h = match norm with Some bn -> bn.forward (h, training) | None -> h
                    F.leaky_relu (h, slope))
                z
        (gOut.forward h).tanh().view (Array.append [| -1L |] image.Dims)
    let discriminate (training: bool) (x: Tensor) =
        let h =
            dHidden
            |> List.fold (fun h (linear: Linear) -> dropout.forward (F.leaky_relu (linear.forward h, slope), training, generator)) (x.flatten 1)
        (dOut.forward h).view (-1L)
    let named (layers: (string * Parameters) list) = Parameters.compose layers
    { Latent = config.Latent
      Image = image
      Generator =
        named [ for i, (linear, norm) in List.indexed gHidden do
                    yield $"hidden.{i}", linear.parameters
                    match norm with
                    | Some bn -> yield $"norm.{i}", bn.parameters
                    | None -> ()
                yield "out", gOut.parameters ]
      Discriminator = named ([ for i, linear in List.indexed dHidden -> $"hidden.{i}", linear.parameters ] @ [ "out", dOut.parameters ])
      Generate = generate
      Discriminate = discriminate }
