/// The model families this workspace ships, for the commands that read any run folder.
module Research.Core.Models.Families

open System
open Research.Core.Training
open Research.Core.Models.Vae
open Research.Core.Models.Gan
open Research.Core.Models.Flow

/// What a run's family adds to its report: reference lines for its metrics' curves (column, label,
/// value) and panels computed from its checkpoint. Nothing for a family this workspace does not
/// know (a user's own), whose report shows its metrics and images.
let report (folder: string) (dataFolder: string) : (string * string * float) list * Panel list =
    let dataFolder = if String.IsNullOrEmpty dataFolder then None else Some dataFolder
    let run = RunFolder folder
    match run.Family with
    | "vae" -> [], VaeFigures.panels folder dataFolder
    | "gan" -> GanFigures.references (fst (Loop.readConfig GanRun.family run)), GanFigures.panels folder
    | "flow" -> [], FlowFigures.panels folder dataFolder
    | _ -> [], []
