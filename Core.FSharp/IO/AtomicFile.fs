/// Writes that never leave a half-written file behind: the bytes go to a temporary file in the
/// destination folder, which is then renamed over the target (rename is atomic on one file system).
module Research.Core.IO.AtomicFile

open System
open System.IO
open System.Text

/// Writes path atomically with `write`, which fills the temporary file's stream.
let writeWith (path: string) (write: FileStream -> unit) =
    let full = Path.GetFullPath path
    let folder = Path.GetDirectoryName full
    Directory.CreateDirectory folder |> ignore
    let temp = Path.Combine(folder, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")
    try
        using (new FileStream(temp, FileMode.CreateNew, FileAccess.Write)) (fun stream ->
            write stream
            stream.Flush true)
        File.Move(temp, full, true)
    with _ ->
        if File.Exists temp then File.Delete temp
        reraise ()

let writeBytes (path: string) (bytes: byte[]) = writeWith path (fun s -> s.Write(bytes, 0, bytes.Length))

let writeText (path: string) (text: string) = writeBytes path (UTF8Encoding(false).GetBytes text)

/// Copies `source` to `destination` unless an identical-length copy is already there.
let copyIfChanged (source: string) (destination: string) =
    let same = File.Exists destination && FileInfo(destination).Length = FileInfo(source).Length
    if not same then writeWith destination (fun s -> using (File.OpenRead source) (fun src -> src.CopyTo s))
