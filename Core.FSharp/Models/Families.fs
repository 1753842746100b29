/// The model families this workspace ships, for the commands that read any run folder.
module Research.Core.Models.Families

open System
open System.IO
open System.Text.Json
open Research.Core.Training
open Research.Core.Metrics
open Research.Core.Models.Vae
open Research.Core.Models.Gan
open Research.Core.Models.Flow

/// What a run's family adds to its report: reference lines for its metrics' curves (column, label,
/// value) and panels computed from its checkpoint. Nothing for a family this workspace does not
/// know (a user's own), whose report shows its metrics and images.
let report (folder: string) (dataFolder: string) : (string * string * float) list * Panel list =
    let dataFolder = if String.IsNullOrEmpty dataFolder then None else Some dataFolder
    let run = RunFolder folder
    let references, panels =
        match run.Family with
        | "vae" -> [], VaeFigures.panels folder dataFolder
        | "gan" -> GanFigures.references (fst (Loop.readConfig GanRun.family run)), GanFigures.panels folder
        | "flow" -> [], FlowFigures.panels folder dataFolder
        | _ -> [], []
    references, panels @ ScoresFile.panels folder

/// What a run's family offers as a likelihood, with the figures of its latest `eval` if it has one.
let likelihood (folder: string) =
    let run = RunFolder folder
    let latestEval () =
        let evals = Path.Combine(folder, "eval")
        if not (Directory.Exists evals) then None
        else
            Directory.GetFiles(evals, "*.json")
            |> Array.sortByDescending File.GetLastWriteTimeUtc
            |> Array.tryHead
            |> Option.map (fun path -> JsonDocument.Parse(File.ReadAllText path))
    let number (doc: JsonDocument) (name: string) = doc.RootElement.GetProperty(name).GetDouble()
    match run.Family with
    | "vae" ->
        match latestEval () with
        | Some doc ->
            use _ = doc
            let k = doc.RootElement.GetProperty("k").GetInt32()
            let elbo, ll, se = number doc "elbo", number doc "log_likelihood", number doc "log_likelihood_stderr"
            $"a bound and an estimate: test ELBO {elbo:F2} nats (a lower bound); log p(x) ~ {ll:F2} ± {se:F2} nats (importance-sampled, k = {k})"
        | None -> "a bound and an estimate: the ELBO and an importance-sampled log p(x) (run `vae eval`)"
    | "flow" ->
        match latestEval () with
        | Some doc ->
            use _ = doc
            let k = doc.RootElement.GetProperty("samples").GetInt32()
            let bpd, weighted = number doc "bpd", number doc "bpd_importance_weighted"
            $"exact (up to dequantization): test {bpd:F3} bits per dimension; {weighted:F3} importance-weighted over {k} dequantization samples"
        | None -> "exact (up to dequantization): bits per dimension (run `flow eval`)"
    | "gan" -> "none: a GAN defines no density"
    | family -> $"unknown for a '{family}' run"

/// The sample sets `score` draws from a run's checkpoint, each (label, images [n; 1; 28; 28] in
/// [0, 1]): a VAE's decoder means and draws from p(x|z), a GAN's G(z), a flow at temperature 1 and
/// at `temperature`. The caller disposes the images.
let samples (folder: string) (checkpoint: string) (n: int) (seed: int64) (threads: int) (temperature: float) =
    let run = RunFolder folder
    match run.Family with
    | "vae" ->
        let config, _, vae = VaeRun.load (folder, checkpoint)
        use _ = vae.Parameters
        Family.useThreads (VaeRun.family.Threads config threads)
        let draws = match config.Likelihood with Bernoulli -> "Bernoulli draws" | _ -> "decoder draws"
        [ "decoder means", VaeRun.sample vae config n seed false; draws, VaeRun.sample vae config n seed true ]
    | "gan" ->
        let config, _, gan, parameters = GanRun.load (folder, checkpoint)
        use _ = parameters
        Family.useThreads (GanRun.family.Threads config threads)
        [ "samples", GanRun.sample gan n seed ]
    | "flow" ->
        let config, _, flow, parameters = FlowRun.load (folder, checkpoint)
        use _ = parameters
        Family.useThreads (FlowRun.family.Threads config threads)
        [ for t in List.distinct [ 1.0; temperature ] -> $"T={t:G3}", FlowRun.sample flow n t seed ]
    | family -> invalidArg "run" $"{folder}: score draws samples from vae, gan and flow runs, not from a '{family}' run; pass an IDX file of its images instead"
