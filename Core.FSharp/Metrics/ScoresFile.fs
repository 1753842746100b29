/// scores.json, the sample-quality scores `score` writes into a run folder, and the report panels
/// drawn from it (its table with the real-data floor, and the class histogram). Each row records
/// what was scored (the checkpoint, its epoch, the sample count, the seed); a new `score` replaces
/// the rows it scores again and keeps the others, under a lock, so that two `score` runs on one
/// folder never lose each other's rows.
module Research.Core.Metrics.ScoresFile

open System
open System.IO
open System.Text.Json
open System.Threading
open Research.Core.IO
open Research.Core.Training
open Research.Core.Metrics.SampleQuality

/// One scored set: its label, the IDX file of its images, the checkpoint it was drawn from (empty
/// for real images) with that checkpoint's epoch, the seed of the draws and of KID's subsets, and
/// its scores (their Images is the sample count).
type ScoredSet =
    { Label: string
      Images: string
      Checkpoint: string
      Epoch: int
      Seed: int
      Scores: Scores }

    /// What makes two rows the same measurement, so that a new score replaces an old one.
    member s.Key = s.Label, s.Checkpoint, s.Epoch, s.Scores.Images, s.Seed

type ScoresFile =
    { FeatureNet: string
      Reference: string
      /// Training images against the reference: what real data score at the same sample size and
      /// seed, one row per (n, seed) scored.
      Floors: ScoredSet list
      Sets: ScoredSet list }

let fileName = "scores.json"

let private writeSet (w: Utf8JsonWriter) (set: ScoredSet) =
    w.WriteStartObject()
    w.WriteString("samples", set.Label)
    w.WriteString("images", set.Images)
    w.WriteString("checkpoint", set.Checkpoint)
    w.WriteNumber("epoch", set.Epoch)
    w.WriteNumber("seed", set.Seed)
    let s = set.Scores
    // A figure an older file lacks (NaN once read) stays missing: null, as JSON has no NaN.
    let number (name: string) (v: float) = if Double.IsNaN v then w.WriteNull name else w.WriteNumber(name, v)
    w.WriteNumber("n", s.Images)
    number "fid" s.Fid
    number "kid" s.Kid
    number "kid_stderr" s.KidStdErr
    number "precision" s.Precision
    number "recall" s.Recall
    number "density" s.Density
    number "coverage" s.Coverage
    number "classifier_score" s.ClassifierScore
    w.WriteStartArray "classes"
    for c in s.Classes do w.WriteNumberValue c
    w.WriteEndArray()
    w.WriteEndObject()

let private write (folder: string) (file: ScoresFile) =
    use stream = new MemoryStream()
    (use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
     w.WriteStartObject()
     w.WriteString("feature_net_sha256", file.FeatureNet)
     w.WriteString("reference", file.Reference)
     w.WriteStartArray "floors"
     for set in file.Floors do writeSet w set
     w.WriteEndArray()
     w.WriteStartArray "sets"
     for set in file.Sets do writeSet w set
     w.WriteEndArray()
     w.WriteEndObject())
    AtomicFile.writeBytes (Path.Combine(folder, fileName)) (stream.ToArray())

/// A set as scores.json holds it; a file written before a field existed lacks it (the checkpoint and
/// seed then come from the file's top level, the epoch is unknown: -1, density and coverage NaN, written back as null).
let private readSet (file: JsonElement) (e: JsonElement) =
    let number (name: string) =
        match e.TryGetProperty name with
        | true, v when v.ValueKind <> JsonValueKind.Null -> v.GetDouble()
        | _ -> nan
    let text (name: string) =
        match e.TryGetProperty name, file.TryGetProperty name with
        | (true, v), _ | _, (true, v) -> v.GetString()
        | _ -> ""
    let integer (name: string) (fallback: int) =
        match e.TryGetProperty name, file.TryGetProperty name with
        | (true, v), _ | _, (true, v) -> v.GetInt32()
        | _ -> fallback
    { Label = e.GetProperty("samples").GetString()
      Images = e.GetProperty("images").GetString()
      Checkpoint = text "checkpoint"
      Epoch = integer "epoch" -1
      Seed = integer "seed" 0
      Scores =
        { Images = e.GetProperty("n").GetInt32()
          Fid = number "fid"
          Kid = number "kid"
          KidStdErr = number "kid_stderr"
          Precision = number "precision"
          Recall = number "recall"
          Density = number "density"
          Coverage = number "coverage"
          ClassifierScore = number "classifier_score"
          Classes = [| for c in e.GetProperty("classes").EnumerateArray() -> c.GetInt32() |] } }

/// <folder>/scores.json, if `score` has written one.
let read (folder: string) =
    let path = Path.Combine(folder, fileName)
    if not (File.Exists path) then None
    else
        try
            use doc = JsonDocument.Parse(File.ReadAllBytes path)
            let root = doc.RootElement
            let floors =
                match root.TryGetProperty "floors" with
                | true, floors -> [ for e in floors.EnumerateArray() -> readSet root e ]
                | _ -> [ { readSet root (root.GetProperty "floor") with Checkpoint = "" } ]
            Some
                { FeatureNet = root.GetProperty("feature_net_sha256").GetString()
                  Reference = root.GetProperty("reference").GetString()
                  Floors = floors
                  Sets = [ for e in root.GetProperty("sets").EnumerateArray() -> readSet root e ] }
        with
        | :? JsonException
        | :? Collections.Generic.KeyNotFoundException
        | :? InvalidOperationException as e -> raise (InvalidDataException($"{path}: not a scores file written by `score` ({e.Message})", e))

/// Adds scored sets and their floor to <folder>/scores.json: rows of the same measurement (label,
/// checkpoint, epoch, sample count, seed) are replaced, the others kept. Updates are serialised by
/// an OS lock on <folder>/.scores.lock (waiting up to `patience` for another `score` to finish
/// its update); the temporary file of a writer that was killed goes with the next write (AtomicFile).
let update (folder: string) (featureNet: string) (reference: string) (floor: ScoredSet) (sets: ScoredSet list) (patience: TimeSpan) =
    let lockPath = Path.Combine(folder, ".scores.lock")
    let clock = Diagnostics.Stopwatch.StartNew()
    let rec take () =
        try new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
        with :? IOException as e when e.HResult = 11 (* EWOULDBLOCK: another score holds it *) ->
            if clock.Elapsed > patience then
                raise (IOException $"{folder}: another `score` has held scores.json for {patience.TotalSeconds:F0} s; try again when it has finished")
            Thread.Sleep 100
            take ()
    use _ = take ()
    let existing = read folder
    let replace (old: ScoredSet list) (fresh: ScoredSet list) =
        let keys = set [ for s in fresh -> s.Key ]
        (old |> List.filter (fun s -> not (keys.Contains s.Key))) @ fresh
    let kept =
        match existing with
        // Scores of another feature network do not compare with these: they go.
        | Some file when file.FeatureNet = featureNet -> file
        | _ -> { FeatureNet = featureNet; Reference = reference; Floors = []; Sets = [] }
    write folder { kept with Reference = reference; Floors = replace kept.Floors [ floor ]; Sets = replace kept.Sets sets }

let header = [ "samples"; "n"; "FID"; "KID (± s.e.)"; "precision"; "recall"; "density"; "coverage"; "classifier score" ]

let private figure (format: string) (v: float) = if Double.IsNaN v then "–" else v.ToString(format, Globalization.CultureInfo.InvariantCulture)

/// One table row of a scored set, labelled.
let row (label: string) (s: Scores) =
    [ label; string s.Images; $"{s.Fid:F2}"; $"{s.Kid:G4} ± {s.KidStdErr:G2}"
      $"{s.Precision:F3}"; $"{s.Recall:F3}"; figure "F3" s.Density; figure "F3" s.Coverage; $"{s.ClassifierScore:F2}" ]

/// A set's label with what was scored: "decoder means, best (epoch 10), seed 1".
let describe (set: ScoredSet) =
    let epoch = if set.Epoch >= 0 then $" (epoch {set.Epoch})" else ""
    if set.Checkpoint = "" then $"{set.Label}, seed {set.Seed}" else $"{set.Label}, {set.Checkpoint}{epoch}, seed {set.Seed}"

let digits = [ for d in 0..9 -> string d ]

/// The report panels of one run's scores.json: the table of every scored set with the floors, and
/// the class histogram.
let panels (folder: string) =
    match read folder with
    | None -> []
    | Some file ->
        [ Panel.Table($"Sample quality, against the {file.Reference}",
                      header,
                      [ for set in file.Sets -> row (describe set) set.Scores ] @ [ for f in file.Floors -> row $"floor: {describe f}" f.Scores ])
          Panel.Bars("Predicted classes of the samples", "class (the feature network's prediction)", digits,
                     [ for set in file.Sets @ file.Floors -> describe set, Array.map float set.Scores.Classes ]) ]
