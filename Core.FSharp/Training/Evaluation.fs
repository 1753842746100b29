namespace Research.Core.Training

open System
open System.IO
open System.Text.Json
open System.Text.RegularExpressions
open Research.Core.IO

/// What a family's `eval` measured of one checkpoint, one record for every family that has a
/// likelihood: the measure and its unit, the estimate with its standard error over the images, a
/// bound beside it if the family has one, and what was evaluated (checkpoint, its epoch, the images,
/// the samples per image, the seed). Saved as eval/<checkpoint>-<settings>.json, so evaluations with
/// other settings never overwrite one another.
type Evaluation =
    { /// "log p(x)" (nats per image), "bits per dimension", ...
      Measure: string
      Unit: string
      Estimate: float
      StdErr: float
      /// A bound on the measure beside the estimate: its name and value (the VAE's test ELBO).
      Bound: (string * float) option
      Checkpoint: string
      Epoch: int
      /// The images, e.g. "MNIST test set" or an IDX file's path, and how many of them.
      Data: string
      Images: int
      /// Samples per image: importance samples k, dequantization samples K.
      Samples: int
      Seed: int
      /// The settings that name the file besides the checkpoint, e.g. "test-k5000-seed1".
      Settings: string
      /// The family's other figures, e.g. the ELBO's KL and reconstruction terms.
      Details: (string * float) list }

module Evaluation =
    let private folderOf (run: RunFolder) = Path.Combine(run.Path, "eval")

    /// eval/<checkpoint>-<settings>.json of a run, the settings made safe for a file name.
    let path (run: RunFolder) (checkpoint: string) (settings: string) =
        let safe = Regex.Replace(settings, @"[^A-Za-z0-9._-]+", "_")
        Path.Combine(folderOf run, $"{checkpoint}-{safe}.json")

    /// The settings part of a file name: the images' source (e.g. "test", "test-first1000", an IDX
    /// file's name), the samples per image, the seed, and anything else that changes the figure.
    let settings (source: string) (samples: int) (seed: int) (extra: string list) =
        String.Join("-", [ source; $"k{samples}"; $"seed{seed}" ] @ extra)

    /// The label a report gives an evaluation: "best (epoch 10), test-k5000-seed1".
    let label (e: Evaluation) = $"{e.Checkpoint} (epoch {e.Epoch}), {e.Settings}"

    /// Writes it into the run's eval/ folder (atomically); returns the path.
    let write (run: RunFolder) (e: Evaluation) =
        use stream = new MemoryStream()
        (use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
         w.WriteStartObject()
         w.WriteString("measure", e.Measure)
         w.WriteString("unit", e.Unit)
         w.WriteNumber("estimate", e.Estimate)
         w.WriteNumber("stderr", e.StdErr)
         match e.Bound with
         | Some(name, value) ->
             w.WriteString("bound", name)
             w.WriteNumber("bound_value", value)
         | None -> ()
         w.WriteString("checkpoint", e.Checkpoint)
         w.WriteNumber("epoch", e.Epoch)
         w.WriteString("data", e.Data)
         w.WriteNumber("images", e.Images)
         w.WriteNumber("samples", e.Samples)
         w.WriteNumber("seed", e.Seed)
         w.WriteString("settings", e.Settings)
         w.WriteStartObject "details"
         for name, value in e.Details do w.WriteNumber(name, value)
         w.WriteEndObject()
         w.WriteEndObject())
        let file = path run e.Checkpoint e.Settings
        AtomicFile.writeBytes file (stream.ToArray())
        file

    let private read (file: string) =
        try
            use doc = JsonDocument.Parse(File.ReadAllBytes file)
            let o = doc.RootElement
            let text (name: string) = o.GetProperty(name).GetString()
            let number (name: string) = o.GetProperty(name).GetDouble()
            let integer (name: string) = o.GetProperty(name).GetInt32()
            Some
                { Measure = text "measure"; Unit = text "unit"; Estimate = number "estimate"; StdErr = number "stderr"
                  Bound = (match o.TryGetProperty "bound" with
                           | true, b -> Some(b.GetString(), number "bound_value")
                           | _ -> None)
                  Checkpoint = text "checkpoint"; Epoch = integer "epoch"; Data = text "data"; Images = integer "images"
                  Samples = integer "samples"; Seed = integer "seed"; Settings = text "settings"
                  Details = [ for p in o.GetProperty("details").EnumerateObject() -> p.Name, p.Value.GetDouble() ] }
        with
        // Files of the format before this one (or not ours) are passed over.
        | :? JsonException | :? Collections.Generic.KeyNotFoundException | :? InvalidOperationException -> None

    /// Every evaluation of a run, by checkpoint and settings.
    let all (run: RunFolder) =
        let folder = folderOf run
        if not (Directory.Exists folder) then []
        else
            Directory.GetFiles(folder, "*.json")
            |> Array.sort
            |> Array.choose read
            |> List.ofArray
            |> List.sortBy (fun e -> e.Checkpoint, e.Settings)
