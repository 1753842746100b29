/// The model families this workspace ships, for the commands that read any run folder.
module Research.Core.Models.Families

open System
open Research.Core.Training
open Research.Core.Models.Vae

/// The panels that a run's family adds to its report, computed from its checkpoint; none for a
/// family this workspace does not know (a user's own), whose report shows its metrics and images.
let panels (folder: string) (dataFolder: string) : Panel list =
    let dataFolder = if String.IsNullOrEmpty dataFolder then None else Some dataFolder
    match (RunFolder folder).Family with
    | "vae" -> VaeFigures.panels folder dataFolder
    | _ -> []
