namespace Research.Core.Data

open System
open System.IO

/// Where the data sets live: the folder named by the environment variable RESEARCH_DATA, else the
/// data/ folder of the repository (the folder holding Research.sln), found by walking up from the
/// current directory and from the application's base directory.
module DataFolder =

    let private setupHint = "run scripts/setup.sh (it fetches MNIST into data/) or set RESEARCH_DATA to a folder holding mnist/"

    let private repositoryRoot (start: string) =
        let rec up (dir: DirectoryInfo) =
            if isNull dir then None
            elif File.Exists(Path.Combine(dir.FullName, "Research.sln")) then Some dir.FullName
            else up dir.Parent
        up (DirectoryInfo start)

    /// The data folder; DirectoryNotFoundException (saying what to do) when there is none.
    let find () : string =
        match Environment.GetEnvironmentVariable "RESEARCH_DATA" with
        | null | "" ->
            let roots = [ Environment.CurrentDirectory; AppContext.BaseDirectory ] |> List.choose repositoryRoot |> List.distinct
            match roots |> List.map (fun r -> Path.Combine(r, "data")) |> List.tryFind Directory.Exists with
            | Some folder -> folder
            | None when roots.IsEmpty ->
                raise (DirectoryNotFoundException $"no data folder: RESEARCH_DATA is not set and no repository (a folder with Research.sln) lies above '{Environment.CurrentDirectory}' or '{AppContext.BaseDirectory}'; {setupHint}")
            | None ->
                raise (DirectoryNotFoundException $"""no data folder in the repository at {String.Join(" or ", roots)}; {setupHint}""")
        | folder when Directory.Exists folder -> Path.GetFullPath folder
        | folder -> raise (DirectoryNotFoundException $"RESEARCH_DATA names '{folder}', which does not exist; {setupHint}")

    /// A file under the data folder (or under `folder` when given); FileNotFoundException saying
    /// what to do when it is missing.
    let file (relativePath: string, folder: string option) : string =
        let folder = folder |> Option.defaultWith find
        let path = Path.Combine(folder, relativePath)
        if not (File.Exists path) then
            raise (FileNotFoundException($"missing data file '{path}'; {setupHint}", path))
        path
