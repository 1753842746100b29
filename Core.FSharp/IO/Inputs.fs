/// The paths a command takes as its inputs.
module Research.Core.IO.Inputs

open System.IO

/// Refuses paths that name one file or folder twice (`d1` and `./d1/` alike): ArgumentException
/// "<path> is given <n> times; <why>".
let givenOnce (why: string) (paths: string seq) =
    match paths |> Seq.countBy (Path.GetFullPath >> Path.TrimEndingDirectorySeparator) |> Seq.tryFind (fun (_, count) -> count > 1) with
    | Some(path, count) -> invalidArg "inputs" $"{path} is given {count} times; {why}"
    | None -> ()
