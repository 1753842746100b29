/// The GAN as a family of the shared training loop. Each step is Goodfellow et al.'s algorithm 1 on
/// one minibatch: k discriminator steps on the real images and fresh fakes, G(z) detached, then one
/// generator step on D's verdict on its images (as pytorch/examples' dcgan, which reuses the last
/// fakes). Images are scaled to [-1, 1], the tanh generator's range.
module Research.Core.Models.Gan.GanRun

open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Optim
open Research.Core.Training

/// A freshly initialised GAN of the configured architecture, drawn from the generator.
let create (generator: Generator) (config: GanConfig) (image: ImageShape) =
    match config.Architecture with
    | MlpGan -> MlpGan.create generator config image
    | Dcgan -> Dcgan.create generator config image

let private noise (gan: Gan) (n: int64) (generator: Generator) = torch.randn ([| n; int64 gan.Latent |], generator = generator)

/// One step: k updates of D on -E[log D(x)] - E[log(1 - D(G(z)))], then one update of G. Logs the
/// sums over the batch of D's two losses, G's loss, D(x) and D(G(z)) (from the last D update).
let private step (gan: Gan) (dAdam: Adam) (gAdam: Adam) (config: GanConfig) (generator: Generator) (batch: Batch) =
    let x = Gan.toTanhRange batch.x
    let n = x.size 0
    let discriminatorStep () =
        let fake = gan.Generate true (noise gan n generator)
        dAdam.zero_grad ()
        let realLogits = gan.Discriminate true x
        let fakeLogits = gan.Discriminate true (fake.detach ())
        let real, fakeLoss = Objectives.discriminatorReal realLogits, Objectives.discriminatorFake fakeLogits
        (real + fakeLoss).backward ()
        dAdam.step ()
        fake, (real.item (), fakeLoss.item (), realLogits.sigmoid().mean().item (), fakeLogits.sigmoid().mean().item ())
    let fake, (lossReal, lossFake, dReal, dFake) = List.last [ for _ in 1 .. config.DiscriminatorSteps -> discriminatorStep () ]
    // G's step needs no gradient for D's weights: D is frozen while it runs (as CycleGAN's
    // implementation does), so backward skips those products.
    let dWeights = gan.Discriminator.tensors
    gAdam.zero_grad ()
    for t in dWeights do t.requires_grad_ false |> ignore
    let gLoss =
        try
            let gLoss = Objectives.generator config.Loss (gan.Discriminate true fake)
            gLoss.backward ()
            gLoss
        finally
            for t in dWeights do t.requires_grad_ true |> ignore
    gAdam.step ()
    let b = float n
    let g = gLoss.item ()
    { Loss = (lossReal + lossFake + g) * b; Sums = [| (lossReal + lossFake) * b; lossReal * b; lossFake * b; g * b; dReal * b; dFake * b |] }

/// D(x) on the validation images and D(G(z)) on as many fixed-noise fakes, in evaluation mode:
/// a discriminator that has memorised the training images scores the validation ones lower.
let private validate (gan: Gan) (seed: int) (validation: ImageSubset) =
    use _ = torch.no_grad ()
    use fixedNoise = new Generator(int64 seed + 1L)
    let mutable real, fake = 0.0, 0.0
    for batch in validation.batches (500, shuffle = false) do
        use scope = new TensorScope()
        real <- real + (gan.Discriminate false (Gan.toTanhRange batch.x)).sigmoid().sum().item ()
        let fakes = gan.Generate false (noise gan (batch.x.size 0) fixedNoise)
        fake <- fake + (gan.Discriminate false fakes).sigmoid().sum().item ()
    let n = float validation.count
    [| real / n; fake / n |]

/// 64 samples from the same z at every epoch (G in evaluation mode), as a PNG grid.
let sampleGrid (gan: Gan) (seed: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use fixedNoise = new Generator(int64 seed + 2L)
    let images = Gan.ofTanhRange (gan.Generate false (noise gan 64L fixedNoise))
    Png.Grid(images.toFloat32Array (), gan.Image.Height, gan.Image.Width, 8, 8)

let trainer (config: GanConfig) (settings: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let gan = create generator config data.train.imageShape
    let adam (parameters, lr) = new Adam(parameters, lr = lr, beta1 = config.Beta1, beta2 = config.Beta2)
    let dAdam, gAdam = adam (gan.Discriminator, config.DiscriminatorLr), adam (gan.Generator, config.GeneratorLr)
    { Model = gan.Parameters
      Optimizers = [ "discriminator", dAdam; "generator", gAdam ]
      Generators = []
      TrainColumns = [ "d_loss"; "d_loss_real"; "d_loss_fake"; "g_loss"; "d_real"; "d_fake" ]
      ValidationColumns = [ "val_d_real"; "val_d_fake" ]
      Headline = None
      Step = step gan dAdam gAdam config generator
      Objective = MeanOverImages
      Validate = fun () -> validate gan settings.Seed data.validation
      Images = fun _ -> [ "samples", sampleGrid gan settings.Seed ] }

let family = Family.create "gan" GanConfig.settings GanConfig.runDefaults trainer

/// A trained GAN from a run folder's checkpoint ("last" or "best"), with the run's settings; the
/// caller disposes its Parameters. The weights come from the file; libtorch's default generator
/// serves the initialisation and, in training mode, the dropout of the loaded model.
let load (folder: string, checkpoint: string) =
    Loop.loadModel family (folder, checkpoint) (fun config -> create Generator.Default config Mnist.imageShape) _.Parameters

/// Generated images (G in evaluation mode) in [0, 1], [n; C; H; W].
let sample (gan: Gan) (seed: int64) =
    SampleFiles.drawing seed (fun generator count -> Gan.ofTanhRange (gan.Generate false (noise gan (int64 count) generator)))

/// `gan sample`: a run's checkpoint's images, handed to `save` (which writes them).
let writeSamples (folder: string, checkpoint: string, seed: int, threads: int) (save: SampleFiles.Drawing -> 'T) =
    let config, _, gan = load (folder, checkpoint)
    use _ = gan.Parameters
    Family.useThreadsOf family config threads
    save (sample gan (int64 seed))
