/// Atomic writes leave no temporary file behind: a killed writer's goes with the next write of the
/// same file (while a live writer's stays), and a process ending on a signal removes its own.
module Research.Core.Tests.AtomicFileTests

open System.IO
open Expecto
open Research.Core.IO

[<Tests>]
let tests =
    testList "AtomicFileTests" [
        testCase "the next write removes a killed writer's temporary file and keeps a live writer's" <| fun () ->
            let folder = NnTestSupport.tempFolder "atomic"
            try
                let target = Path.Combine(folder, "samples-idx3-ubyte")
                let killed = Path.Combine(folder, ".samples-idx3-ubyte.0123456789abcdef.tmp")
                let live = Path.Combine(folder, ".samples-idx3-ubyte.fedcba9876543210.tmp")
                let other = Path.Combine(folder, ".other.png.0123456789abcdef.tmp")
                for file in [ killed; live; other ] do File.WriteAllText(file, "half a write")
                // A writer holds its temporary file under an exclusive OS lock while it writes.
                use writing = new FileStream(live, FileMode.Open, FileAccess.Write, FileShare.None)
                AtomicFile.writeText target "whole"
                Expect.equal (File.ReadAllText target) "whole" "the file written"
                Expect.isFalse (File.Exists killed) "the killed writer's temporary file"
                Expect.isTrue (File.Exists live) "the live writer's temporary file"
                Expect.isTrue (File.Exists other) "another file's temporary file (its own next write takes it)"
            finally
                Directory.Delete(folder, true)
        testCase "abandon removes the temporary files of writes under way, and their targets are not written" <| fun () ->
            let folder = NnTestSupport.tempFolder "abandon"
            try
                let target = Path.Combine(folder, "samples-idx3-ubyte")
                let failed =
                    try
                        AtomicFile.writeWith target (fun stream ->
                            stream.Write([| 1uy; 2uy; 3uy |], 0, 3)
                            Expect.equal (Directory.GetFiles(folder).Length) 1 "the temporary file while it is written"
                            // What the Ctrl-C / SIGTERM handler of every command calls.
                            AtomicFile.abandon ())
                        None
                    with :? IOException as e -> Some e.Message
                Expect.isSome failed "the write of an abandoned file fails"
                Expect.equal (Directory.GetFiles folder) [||] "files left"
            finally
                Directory.Delete(folder, true)
    ]
