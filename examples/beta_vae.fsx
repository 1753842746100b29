/// A model the workspace does not ship, trained through its shared training loop into a normal run
/// folder: a beta-VAE (Higgins et al. 2017) whose decoder has two tanh layers. After a build:
///
///     dotnet fsi examples/beta_vae.fsx [run-folder] [epochs] [beta]
///
/// Everything model-specific is below: its settings, its networks, its objective, its TrainingRun,
/// and its entry in the family registry (the panel its report adds: latent traversals). The loop
/// (Training/Loop.fs) owns epochs, batches, progress, metrics.csv, checkpoints, exact resume, the
/// divergence check and the run folder's lock; the report (Analysis) draws the run with its panel.
#r "../Experiments.CSharp/bin/Release/net10.0/Research.Core.dll"
#r "../Experiments.CSharp/bin/Release/net10.0/Plotly.NET.dll"
#r "../Experiments.CSharp/bin/Release/net10.0/Research.Analysis.dll"

open System
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Probability
open Research.Core.Training
open Research.Core.Models
open Research.Analysis.Report

type BetaVaeConfig = { Beta: float; Latent: int; Hidden: int; LearningRate: float }

/// q(z|x) = N(mu(x), diag sigma^2(x)) with one ReLU layer; p(x|z) = Bernoulli(sigmoid(f(z))) with
/// f two tanh layers and a linear output.
let networks (c: BetaVaeConfig) (image: ImageShape) (g: Generator) =
    let linear a b = Linear.create (g, a, b)
    let hidden, mu, logvar = linear image.Pixels c.Hidden, linear c.Hidden c.Latent, linear c.Hidden c.Latent
    let dec1, dec2, out = linear c.Latent c.Hidden, linear c.Hidden c.Hidden, linear c.Hidden image.Pixels
    let encode (x: Tensor) =
        let h = (hidden.forward (x.flatten 1)).relu ()
        DiagonalGaussian(mu.forward h, logvar.forward h)
    let decode (z: Tensor) = BernoulliLogits(z |> dec1.forward |> F.tanh |> dec2.forward |> F.tanh |> out.forward)
    let parameters =
        Parameters.compose [
            "encoder", Parameters.compose [ "hidden", hidden.parameters; "mu", mu.parameters; "logvar", logvar.parameters ]
            "decoder", Parameters.compose [ "hidden1", dec1.parameters; "hidden2", dec2.parameters; "out", out.parameters ] ]
    parameters, encode, decode

/// Per image: E_q[log p(x|z)] (one sample) and KL(q(z|x) || N(0, I)). The beta-VAE maximises
/// recon - beta KL (Higgins et al. 2017, eq. 4); beta = 1 is the ELBO.
let terms (encode: Tensor -> DiagonalGaussian) (decode: Tensor -> PixelDistribution) (g: Generator) (x: Tensor) =
    let q = encode x
    (decode (q.rsample (generator = g))).log_prob (x.flatten 1), q.kl_standard_normal ()

let trainer (c: BetaVaeConfig) (settings: RunSettings) (data: Mnist) (g: Generator) : TrainingRun =
    let image = data.train.imageShape
    let parameters, encode, decode = networks c image g
    let adam = new Adam(parameters, lr = c.LearningRate)
    { Model = parameters
      Optimizers = [ ("adam", adam) ]
      Generators = []
      TrainColumns = [ "train_objective"; "train_elbo"; "kl" ]
      ValidationColumns = [ "val_objective"; "val_elbo"; "val_kl" ]
      Headline = Some { Column = "val_objective"; Better = Higher }
      Step =
        fun batch ->
            adam.zero_grad ()
            let recon, kl = terms encode decode g (torch.bernoulli (batch.x, g))
            let recon, kl = recon.sum (), kl.sum ()
            let loss = kl * c.Beta - recon
            loss.backward ()
            adam.step ()
            let recon, kl = recon.item (), kl.item ()
            { Loss = loss.item (); Sums = [| recon - c.Beta * kl; recon - kl; kl |] }
      Objective = SumOverImages
      Validate =
        fun () ->
            use _ = torch.no_grad ()
            use fixedNoise = new Generator(int64 settings.Seed + 1L)
            let mutable recon, kl = 0.0, 0.0
            for batch in data.validation.batches (500, shuffle = false) do
                use scope = new TensorScope()
                let r, k = terms encode decode fixedNoise (torch.bernoulli (batch.x, fixedNoise))
                recon <- recon + r.sum().item ()
                kl <- kl + k.sum().item ()
            let n = float data.validation.count
            [| (recon - c.Beta * kl) / n; (recon - kl) / n; kl / n |]
      Images =
        fun _ ->
            use _ = torch.no_grad ()
            use scope = new TensorScope()
            use fixedLatents = new Generator(int64 settings.Seed + 2L)
            let means = (decode (torch.randn ([| 64L; int64 c.Latent |], generator = fixedLatents))).mean
            [ ("samples", Png.Grid(means.toFloat32Array (), image.Height, image.Width, 8, 8)) ] }

let family =
    // Declared once: config.json and a resume's checks come from these.
    let settings =
        Settings.declare
            [ Setting.number "beta" "beta" "the KL term's weight" _.Beta (fun v c -> { c with Beta = v })
              Setting.int "latent" "latent" "latent size" _.Latent (fun v c -> { c with Latent = v })
              Setting.int "hidden" "hidden" "hidden units" _.Hidden (fun v c -> { c with Hidden = v })
              Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v }) ]
            { Beta = 4.0; Latent = 10; Hidden = 256; LearningRate = 1e-3 }
            (fun c -> (if not (c.Beta > 0.0 && Double.IsFinite c.Beta) then invalidArg "beta" $"beta must be a positive, finite number (got {c.Beta})"); c)
    Family.create "beta-vae" settings { RunSettings.defaults with Threads = 1 } trainer

/// Latent traversals (Higgins et al. 2017, figure 7): the decoder's means as one latent coordinate
/// sweeps from -3 to 3 with the others at 0, a row per coordinate.
let traversals (decode: Tensor -> PixelDistribution) (latent: int) (image: ImageShape) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let n = int64 latent
    let steps = torch.linspace (-3.0, 3.0, 10)
    // Row d * 10 + s: coordinate d at steps[s], the others 0.
    let z = (torch.eye latent).unsqueeze(1).expand(n, 10L, n).reshape (n * 10L, n) * (steps.repeat n).unsqueeze 1
    Png.Grid((decode z).mean.toFloat32Array (), image.Height, image.Width, latent, 10)

/// The beta-VAE in the family registry: its report draws the traversals from the best checkpoint.
let entry =
    { FamilyEntry.plain family.Name "a bound: the ELBO (the objective at beta = 1)" with
        Panels =
          fun folder _ ->
              let run = RunFolder folder
              let config, _ = Family.readConfig family run
              use g = new Generator(0L)
              let parameters, _, decode = networks config Mnist.imageShape g
              use _ = parameters
              Checkpoint.loadModel (run.Checkpoint run.BestOrLast, parameters) |> ignore
              let traversal = run.BestOrLast, traversals decode config.Latent Mnist.imageShape
              [ Images("Latent traversals", "decoder means as each latent coordinate sweeps -3..3, the others 0", [ traversal ]) ] }

/// The script's arguments, [run-folder] [epochs] [beta], or a usage error.
let parse (args: string[]) =
    let number (what: string) (parse: string -> bool * 'T) (text: string) =
        match parse text with
        | true, v -> v
        | _ -> invalidArg what $"{what} is '{text}', not a number (usage: dotnet fsi examples/beta_vae.fsx [run-folder] [epochs] [beta])"
    if args.Length > 3 then invalidArg "args" "usage: dotnet fsi examples/beta_vae.fsx [run-folder] [epochs] [beta]"
    (if args.Length > 0 then args[0] else "runs/beta-vae"),
    (if args.Length > 1 then number "epochs" Int32.TryParse args[1] else 1),
    (if args.Length > 2 then number "beta" Double.TryParse args[2] else 4.0)

// MNIST (and plotly.js, for the report) from RESEARCH_DATA, else from the repository's data/ folder
// (scripts/setup.sh fetches them), for the workspace's code in this process too.
let data =
    match Environment.GetEnvironmentVariable "RESEARCH_DATA" with
    | null | "" -> IO.Path.GetFullPath(IO.Path.Combine(__SOURCE_DIRECTORY__, "..", "data"))
    | folder -> folder
Environment.SetEnvironmentVariable("RESEARCH_DATA", data)

// Bad arguments or input end in one line and exit code 2, as the research command line's do.
try
    let folder, epochs, beta = parse (fsi.CommandLineArgs |> Array.skip 1)
    let config = Settings.ofGiven family.Settings [ ("beta", Number beta) ]
    let settings = { RunSettings.defaults with Epochs = epochs; Threads = 1; ImageEpochs = [ 0; epochs ] }
    let metrics = Loop.train family config settings folder false (Some data) ignore
    for row in metrics.Rows do
        printfn "%s" (String.Join("  ", Array.map2 (fun (c: string) (v: float) -> $"{c} {v:F2}") metrics.Columns row))
    printfn $"run folder: {IO.Path.GetFullPath folder}"
    // Registered, the family gets what a shipped family gets from the commands in this process.
    Registry.register entry
    let references, panels = Research.Core.Reports.Score.runReport folder null
    printfn "report: %s" (Report.Write(folder, [ RunReportData.read folder (references, panels) ], []))
with
| :? ArgumentException | :? IO.IOException | :? InvalidOperationException | :? TorchException as e ->
    let message = match e with :? ArgumentException as a when not (isNull a.ParamName) -> a.Message.Replace($" (Parameter '{a.ParamName}')", "") | _ -> e.Message
    eprintfn "error: %s" message
    exit 2
