/// Writes that never leave a half-written file behind: the bytes go to a temporary file in the
/// destination folder, which is then renamed over the target (rename is atomic on one file system).
module Research.Core.IO.AtomicFile

open System
open System.IO
open System.Text

/// A test hook for crash safety: with RESEARCH_TEST_KILL_AT=N in the environment, the process kills
/// itself (SIGKILL: no clean-up runs) at the N-th step of its atomic writes, counting two steps per
/// write: its temporary file complete, then renamed over the target.
let private killAt =
    match Environment.GetEnvironmentVariable "RESEARCH_TEST_KILL_AT" with
    | null | "" -> 0
    | n -> int n

let mutable private steps = 0

let private step () =
    if killAt > 0 then
        steps <- steps + 1
        if steps = killAt then Diagnostics.Process.GetCurrentProcess().Kill()

/// Flushes a folder's entries (a rename into it) to disk: without it a power cut can leave the old
/// entry, or on some file systems a committed name over an empty file. Linux only; elsewhere
/// (and where the folder cannot be opened) the rename stands as the OS keeps it.
let private syncFolder (folder: string) =
    if OperatingSystem.IsLinux() then
        let fd = Research.Core.Native.``open`` (folder, 0 (* O_RDONLY *))
        if fd >= 0 then
            Research.Core.Native.fsync fd |> ignore
            Research.Core.Native.close fd |> ignore

/// The temporary files of the writes under way in this process.
let private underWay = Collections.Concurrent.ConcurrentDictionary<string, unit>()

/// Removes the temporary files of the writes under way: the process is ending (Ctrl-C, SIGTERM),
/// so none of them will be renamed into place, and a long write (`sample --n` in the millions)
/// would leave gigabytes behind.
let abandon () =
    for temp in underWay.Keys do
        try File.Delete temp with _ -> ()

/// Removes temporary files of earlier writes to `name` whose writers were killed mid-write. A
/// writer holds its temporary file under an exclusive lock (.NET's FileShare.None is an OS lock
/// on Linux, released when the process dies), so a file that can be locked has no writer left.
let private removeAbandoned (folder: string) (name: string) =
    if Directory.Exists folder then
        for temp in Directory.GetFiles(folder, $".{name}.*.tmp") do
            try
                (new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.None)).Dispose()
                File.Delete temp
            with :? IOException -> () // another writer's, still under way

/// Writes path atomically with `write`, which fills the temporary file's stream: the file's data
/// reach the disk before the rename, and the rename before this returns.
/// A file system's refusal (no such folder, a file in the way, no permission) is an IOException
/// that names the target, not the temporary file.
let writeWith (path: string) (write: FileStream -> unit) =
    let full = Path.GetFullPath path
    let folder = Path.GetDirectoryName full
    let temp = Path.Combine(folder, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")
    try
        try
            Directory.CreateDirectory folder |> ignore
            removeAbandoned folder (Path.GetFileName full)
            underWay[temp] <- ()
            using (new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None)) (fun stream ->
                write stream
                stream.Flush true)
            step ()
            File.Move(temp, full, true)
            syncFolder folder
            step ()
        finally
            underWay.TryRemove temp |> ignore
    with e ->
        if File.Exists temp then File.Delete temp
        match e with
        | :? IOException | :? UnauthorizedAccessException ->
            let rec fileInTheWay (dir: string) = if isNull dir then None elif File.Exists dir then Some dir else fileInTheWay (Path.GetDirectoryName dir)
            let reason = match fileInTheWay folder with Some file -> $"{file} is a file, not a folder" | None -> e.Message.Replace(temp, full)
            raise (IOException($"cannot write {full}: {reason}", e))
        | _ -> reraise ()

let writeBytes (path: string) (bytes: byte[]) = writeWith path (fun s -> s.Write(bytes, 0, bytes.Length))

let writeText (path: string) (text: string) = writeBytes path (UTF8Encoding(false).GetBytes text)

/// Copies `source` to `destination` unless an identical-length copy is already there.
let copyIfChanged (source: string) (destination: string) =
    let same = File.Exists destination && FileInfo(destination).Length = FileInfo(source).Length
    if not same then writeWith destination (fun s -> using (File.OpenRead source) (fun src -> src.CopyTo s))
