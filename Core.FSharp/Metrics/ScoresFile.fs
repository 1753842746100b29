/// scores.json, the sample-quality scores `score` writes into a run folder, and the report panels
/// drawn from it (its table with the real-data floor, and the class histogram).
module Research.Core.Metrics.ScoresFile

open System.IO
open System.Text.Json
open Research.Core.IO
open Research.Core.Training
open Research.Core.Metrics.SampleQuality

/// One scored set: its label, the IDX file of its images, and its scores.
type ScoredSet =
    { Label: string
      Images: string
      Scores: Scores }

type ScoresFile =
    { Checkpoint: string
      Seed: int
      FeatureNet: string
      Reference: string
      /// Training images against the reference: what real data scores at the same sample size.
      Floor: ScoredSet
      Sets: ScoredSet list }

let fileName = "scores.json"

let private writeSet (w: Utf8JsonWriter) (set: ScoredSet) =
    w.WriteStartObject()
    w.WriteString("samples", set.Label)
    w.WriteString("images", set.Images)
    let s = set.Scores
    w.WriteNumber("n", s.Images)
    w.WriteNumber("fid", s.Fid)
    w.WriteNumber("kid", s.Kid)
    w.WriteNumber("kid_stderr", s.KidStdErr)
    w.WriteNumber("precision", s.Precision)
    w.WriteNumber("recall", s.Recall)
    w.WriteNumber("classifier_score", s.ClassifierScore)
    w.WriteStartArray "classes"
    for c in s.Classes do w.WriteNumberValue c
    w.WriteEndArray()
    w.WriteEndObject()

/// Writes <folder>/scores.json atomically.
let write (folder: string) (file: ScoresFile) =
    use stream = new MemoryStream()
    (use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
     w.WriteStartObject()
     w.WriteString("checkpoint", file.Checkpoint)
     w.WriteNumber("seed", file.Seed)
     w.WriteString("feature_net_sha256", file.FeatureNet)
     w.WriteString("reference", file.Reference)
     w.WritePropertyName "floor"
     writeSet w file.Floor
     w.WriteStartArray "sets"
     for set in file.Sets do writeSet w set
     w.WriteEndArray()
     w.WriteEndObject())
    AtomicFile.writeBytes (Path.Combine(folder, fileName)) (stream.ToArray())

let private readSet (e: JsonElement) =
    { Label = e.GetProperty("samples").GetString()
      Images = e.GetProperty("images").GetString()
      Scores =
        { Images = e.GetProperty("n").GetInt32()
          Fid = e.GetProperty("fid").GetDouble()
          Kid = e.GetProperty("kid").GetDouble()
          KidStdErr = e.GetProperty("kid_stderr").GetDouble()
          Precision = e.GetProperty("precision").GetDouble()
          Recall = e.GetProperty("recall").GetDouble()
          ClassifierScore = e.GetProperty("classifier_score").GetDouble()
          Classes = [| for c in e.GetProperty("classes").EnumerateArray() -> c.GetInt32() |] } }

/// <folder>/scores.json, if `score` has written one.
let read (folder: string) =
    let path = Path.Combine(folder, fileName)
    if not (File.Exists path) then None
    else
        try
            use doc = JsonDocument.Parse(File.ReadAllBytes path)
            let root = doc.RootElement
            Some
                { Checkpoint = root.GetProperty("checkpoint").GetString()
                  Seed = root.GetProperty("seed").GetInt32()
                  FeatureNet = root.GetProperty("feature_net_sha256").GetString()
                  Reference = root.GetProperty("reference").GetString()
                  Floor = readSet (root.GetProperty "floor")
                  Sets = [ for e in root.GetProperty("sets").EnumerateArray() -> readSet e ] }
        with
        | :? JsonException
        | :? System.Collections.Generic.KeyNotFoundException
        | :? System.InvalidOperationException as e -> raise (InvalidDataException($"{path}: not a scores file written by `score` ({e.Message})", e))

let header = [ "samples"; "n"; "FID"; "KID (± s.e.)"; "precision"; "recall"; "classifier score" ]

/// One table row of a scored set, labelled.
let row (label: string) (s: Scores) =
    [ label; string s.Images; $"{s.Fid:F2}"; $"{s.Kid:G4} ± {s.KidStdErr:G2}"
      $"{s.Precision:F3}"; $"{s.Recall:F3}"; $"{s.ClassifierScore:F2}" ]

let digits = [ for d in 0..9 -> string d ]

/// The report panels of one run's scores.json: the table with the floor row, the class histogram.
let panels (folder: string) =
    match read folder with
    | None -> []
    | Some file ->
        [ Panel.Table($"Sample quality ({file.Checkpoint} checkpoint, against the {file.Reference})",
                      header,
                      [ for set in file.Sets -> row set.Label set.Scores ] @ [ row $"floor: {file.Floor.Label}" file.Floor.Scores ])
          Panel.Bars("Predicted classes of the samples", "class (the feature network's prediction)", digits,
                     [ for set in file.Sets @ [ file.Floor ] -> set.Label, Array.map float set.Scores.Classes ]) ]
