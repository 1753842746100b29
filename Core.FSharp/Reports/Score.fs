/// `score`: samples from run folders (or images from IDX files) scored against the MNIST test set
/// with the versioned feature network, next to the real-data floor; and the comparison panels of
/// `report` over several scored runs.
module Research.Core.Reports.Score

open System
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Families
open Research.Core.Training
open Research.Core.Models
open Research.Core.Metrics
open Research.Core.Metrics.FeatureNet
open Research.Core.Metrics.SampleQuality
open Research.Core.Metrics.ScoresFile

/// What was scored: a run folder (its sample sets; scores.json written into it) or an IDX file.
type Source =
    { Path: string
      IsRun: bool
      Sets: ScoredSet list }

let private slug (label: string) =
    String(label.ToLowerInvariant() |> Seq.map (fun c -> if Char.IsLetterOrDigit c || c = '.' then c else '-') |> Array.ofSeq)

/// Scores every input (run folders and IDX files) against the test images; returns the floor
/// (n training images drawn with the seed, scored the same way) and one Source per input.
let run (inputs: string list) (n: int) (seed: int) (threads: int) (temperature: float) (steps: int) (checkpoint: string)
        (dataFolder: string option) (out: Output) =
    if inputs.IsEmpty then invalidArg "inputs" "give at least one run folder or IDX file to score"
    // Precision and recall measure each image's distance to its k-th nearest neighbour in its own set.
    let fewest = SampleQuality.neighbours + 1
    let why = $"precision and recall use each image's {SampleQuality.neighbours} nearest neighbours"
    if n < fewest then invalidArg "n" $"--n must be at least {fewest}: {why} (got {n})"
    if not (temperature > 0.0 && Double.IsFinite temperature) then
        invalidArg "temperature" $"--temperature must be a positive, finite number (got {temperature})"
    if steps < 1 then invalidArg "steps" $"--steps must be at least 1 (got {steps})"
    let threads = (RunSettings.validate { RunSettings.defaults with Threads = threads }).Threads
    Inputs.givenOnce "score each input once" inputs
    // Every input is checked before any work: a bad file, a missing checkpoint or sampler settings
    // a run cannot serve fail now, not after the other inputs' scores.
    let inputs =
        [ for input in inputs ->
              if not (Directory.Exists input || File.Exists input) then
                  raise (FileNotFoundException($"{input}: no such run folder or IDX file", input))
              let path = Path.GetFullPath input
              if Directory.Exists path then
                  let run = RunFolder path
                  if not (File.Exists run.ConfigPath) then raise (InvalidDataException $"{input}: not a run folder (no config.json)")
                  // A run without a headline metric (a GAN) has no best checkpoint: its last one serves.
                  let checkpoint = if checkpoint = "best" then run.BestOrLast else checkpoint
                  let sets =
                      Registry.samples { Folder = path; Checkpoint = checkpoint; N = n; Seed = int64 seed; Threads = threads
                                         Temperature = temperature; Steps = steps }
                  path, Some(checkpoint, Checkpoint.epoch (run.Trained checkpoint), sets)
              else
                  use images = ImageFile.readAs Mnist.imageShape path
                  if images.size 0 < int64 fewest then
                      raise (InvalidDataException $"{input}: {images.size 0} images; scoring needs at least {fewest} ({why})")
                  if images.size 0 < int64 n then
                      out.Print $"note: {input} holds {images.size 0} images, fewer than the floor's --n {n}; FID and KID are biased upwards at small n, so compare at equal n (--n {images.size 0})"
                  path, None ]
    use net = FeatureNet.load None
    let featuresOf (images: Tensor) =
        Family.useThreads (threads, 1)
        FeatureNet.features net images
    use mnist = Mnist.load (?folder = (dataFolder |> Option.map (fun f -> Path.Combine(f, "mnist"))))
    // The floor is n training images; more than MNIST has would compare the sets with a smaller floor.
    if int64 n > mnist.train.count then
        invalidArg "n" $"--n {n} is more than the {mnist.train.count} training images the floor scores; give at most {mnist.train.count}"
    use testFeatures =
        use test = mnist.test.all ()
        featuresOf test.x
    use reference = SampleQuality.reference testFeatures
    let scoreSet label path (checkpoint: string, epoch: int) (images: Tensor) =
        out.Print $"scoring {label} ({images.size 0} images)"
        use features = featuresOf images
        { Label = label; Images = path; Checkpoint = checkpoint; Epoch = epoch; Seed = seed
          Scores = SampleQuality.score reference features (int64 seed) }
    let floor =
        use all = mnist.train.all ()
        use generator = new Generator(int64 seed)
        use order = torch.randperm (all.x.size 0, generator = generator)
        use rows = order.narrow (0, 0L, min (int64 n) (all.x.size 0))
        use images = all.x.index_select (0, rows)
        scoreSet "MNIST training images" "" ("", 0) images
    let sources =
        [ for path, run in inputs ->
              match run with
              | Some(checkpoint, epoch, sets: SampleSets) ->
                  out.Print $"{path}: drawing {n} images per sample set from the {checkpoint} checkpoint (epoch {epoch})"
                  let drawn =
                      sets.Use(fun sets ->
                          [ for label, drawing in sets -> label, drawing.Collect(SampleFiles.draw (Progress.counter $"drawing {label}" (int64 n) out.Report) n) ])
                  let scored =
                      [ for label, images in drawn ->
                            use _ = images
                            let prefix = Path.Combine(path, "samples", $"score-{checkpoint}-{slug label}-n{n}-seed{seed}")
                            let idx, _ = SampleFiles.write prefix images
                            scoreSet label idx (checkpoint, epoch) images ]
                  ScoresFile.update path FeatureNet.sha256 $"MNIST test set ({testFeatures.Features.size 0} images)" floor scored
                      (TimeSpan.FromMinutes 10.0)
                  { Path = path; IsRun = true; Sets = scored }
              | None ->
                  // An IDX file gives its first n images, as a run gives n.
                  use all = ImageFile.readAs Mnist.imageShape path
                  use images = all.narrow (0, 0L, min (int64 n) (all.size 0))
                  { Path = path; IsRun = false; Sets = [ scoreSet (Path.GetFileName path) path ("", 0) images ] } ]
    floor, sources

/// Up to 64 images of each set, side by side: 8 rows, 8 columns per set, an empty column between.
let private sideBySide (idxFiles: string list) =
    use scope = new TensorScope()
    let blank = torch.full ([| 8L; 1L; 1L; 28L; 28L |], 0.5)
    let grids =
        [ for path in idxFiles ->
              let x = ImageFile.readAs Mnist.imageShape path
              let shown = x.narrow (0, 0L, min 64L (x.size 0))
              let padded = if shown.size 0 < 64L then torch.cat ([ shown; torch.zeros ([| 64L - shown.size 0; 1L; 28L; 28L |]) ], 0) else shown
              padded.view (8L, 8L, 1L, 28L, 28L) ]
    let rows = List.reduce (fun a b -> torch.cat ([ a; blank; b ], 1)) grids
    let cols = int (rows.size 1)
    Png.Grid(rows.toFloat32Array (), 28, 28, 8, cols)

/// The comparison section of a report over several runs: every scored set and the floor in one
/// table, their class histograms, their samples side by side, and what each family offers as a
/// likelihood. Runs without scores.json appear only in the last table.
let comparison (folders: string list) =
    let scored = [ for f in folders do match ScoresFile.read f with Some s -> yield RunFolder(f).Name, s | None -> () ]
    let likelihoods =
        Panel.Table("What each model offers as a likelihood", [ "run"; "family"; "evaluation"; "likelihood" ],
                    [ for f in folders do
                          for evaluation, text in Registry.likelihood f -> [ RunFolder(f).Name; RunFolder(f).Family; evaluation; text ] ])
    if scored.IsEmpty then [ likelihoods ]
    else
        let floors = scored |> List.collect (fun (_, s) -> s.Floors) |> List.distinctBy (fun f -> f.Key)
        let sets = [ for name, s in scored do for set in s.Sets -> $"{name}: {ScoresFile.describe set}", set ]
        [ Panel.Table("Sample quality, all runs (against the MNIST test set)", ScoresFile.header,
                      [ for label, set in sets -> ScoresFile.row label set.Scores
                        for f in floors -> ScoresFile.row $"floor: {ScoresFile.describe f}" f.Scores ])
          Panel.Bars("Predicted classes, all runs", "class (the feature network's prediction)", ScoresFile.digits,
                     [ for label, set in sets -> label, Array.map float set.Scores.Classes
                       for f in floors -> $"floor: {ScoresFile.describe f}", Array.map float f.Scores.Classes ])
          let present = sets |> List.filter (fun (_, set) -> File.Exists set.Images)
          if not present.IsEmpty then
              Panel.Images("Samples side by side", "left to right: " + String.Join(", ", present |> List.map fst),
                           [ "scored samples", sideBySide (present |> List.map (fun (_, set) -> set.Images)) ])
          likelihoods ]

/// A run's evaluations (`vae eval`, `flow eval`, ...), one row each, labelled by checkpoint and settings.
let private evaluations (folder: string) =
    match Evaluation.all (RunFolder folder) with
    | [] -> []
    | all ->
        [ Panel.Table("Evaluations", [ "checkpoint and settings"; "images"; "measure"; "estimate"; "bound" ],
                      [ for e in all ->
                            [ Evaluation.label e; $"{e.Images} of {e.Data}"; $"{e.Measure} ({e.Unit})"; $"{e.Estimate:F3} ± {e.StdErr:F3}"
                              (match e.Bound with Some(name, v) -> $"{name} {v:F3}" | None -> "") ] ]) ]

/// What a run's report shows beyond its metrics and images: its family's reference lines and
/// panels (from the registry), its evaluations and its sample-quality scores.
let runReport (folder: string) (dataFolder: string) =
    let references, panels = Registry.report folder dataFolder
    references, panels @ evaluations folder @ ScoresFile.panels folder
