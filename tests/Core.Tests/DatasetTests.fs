/// MNIST as a dataset: split sizes and determinism, values, minibatches, binarization, data folder.
module Research.Core.Tests.DatasetTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Data
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

let rows (subset: ImageSubset) = subset.indices.toInt64Array ()

let withDataVariable (value: string) (f: unit -> unit) =
    let before = Environment.GetEnvironmentVariable "RESEARCH_DATA"
    Environment.SetEnvironmentVariable("RESEARCH_DATA", value)
    try f () finally Environment.SetEnvironmentVariable("RESEARCH_DATA", before)

[<Tests>]
let tests =
    testList "DatasetTests" [
        testList "Split" [
            testCase "the default split is 50000 train and 10000 validation, disjoint, covering the training file" <| fun () ->
                let m = mnist.Value
                Expect.equal m.train.count 50000L "m.train.count"
                Expect.equal m.validation.count 10000L "m.validation.count"
                Expect.equal m.test.count 10000L "m.test.count"
                let all = Array.append (rows m.train) (rows m.validation) |> Array.sort
                Expect.sequenceEqual all [| 0L .. 59999L |] "all"
                Expect.sequenceEqual (rows m.test) [| 0L .. 9999L |] "rows m.test"
            testCase "the split is the seed's: same seed, same split; another seed, another split; sizes configurable" <| fun () ->
                use again = Mnist.load ()
                Expect.sequenceEqual (rows again.validation) (rows mnist.Value.validation) "rows again.validation"
                use other = Mnist.load (seed = 7L, validationSize = 5000)
                Expect.equal other.train.count 55000L "other.train.count"
                Expect.equal other.validation.count 5000L "other.validation.count"
                Expect.notEqual (rows other.validation) (rows mnist.Value.validation |> Array.take 5000) "rows other.validation"
                raises<ArgumentException> (fun () -> Mnist.load (validationSize = 60001) |> ignore) |> ignore
                // A training limit keeps the first rows of the training part and leaves validation alone.
                use limited = Mnist.load (trainLimit = 1000)
                Expect.sequenceEqual (rows limited.train) (rows mnist.Value.train |> Array.take 1000) "rows limited.train"
                Expect.sequenceEqual (rows limited.validation) (rows mnist.Value.validation) "rows limited.validation"
            testCase "images are the file's bytes over 255 as float32 [N, 1, 28, 28], labels int64" <| fun () ->
                use scope = new TensorScope()
                let m = mnist.Value
                let raw = Idx.read (DataFolder.file (Path.Combine("mnist", "t10k-images-idx3-ubyte"), None))
                let labels = Idx.read (DataFolder.file (Path.Combine("mnist", "t10k-labels-idx1-ubyte"), None))
                use all = m.test.all ()
                Expect.sequenceEqual all.x.shape [| 10000L; 1L; 28L; 28L |] "all.x.shape"
                Expect.equal all.x.dtype Float32 "all.x.dtype"
                Expect.equal all.y.dtype Dtype.Int64 "all.y.dtype"
                let expected = (raw.Data :?> byte[]) |> Array.map (fun b -> float32 b / 255.0f)
                Expect.sequenceEqual (all.x.toFloat32Array ()) expected "all.x.toFloat32Array ()"
                Expect.sequenceEqual (all.y.toInt64Array ()) ((labels.Data :?> byte[]) |> Array.map int64) "all.y.toInt64Array ()"
        ]
        // Reads Tensor.LiveCount, so it runs alone.
        testSequenced <| testList "Epoch" [
            testCase "an epoch visits every row once, in batches of the given size, and frees them" <| fun () ->
                let subset = mnist.Value.validation
                use g = new Generator(3L)
                let start = Tensor.LiveCount
                let sizes, labels =
                    [ for b in subset.batches (128, g) -> b.x.size 0, b.y.toInt64Array () ] |> List.unzip
                Expect.equal sizes.Length 79 "sizes.Length"
                Expect.isTrue (sizes |> List.take 78 |> List.forall ((=) 128L)) "sizes |> List.take 78 |> List.forall ((=) 128L)"
                Expect.equal (List.last sizes) (10000L - 78L * 128L) "List.last sizes"
                // The epoch's tensors are gone once it has been enumerated.
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount"
                use all = subset.all ()
                Expect.sequenceEqual (Array.concat labels |> Array.sort) (Array.sort (all.y.toInt64Array ())) "Array.concat labels |> Array.sort"
                let dropped = subset.batches (128, g, dropLast = true) |> Seq.length
                Expect.equal dropped 78 "dropped"
        ]
        testList "Batches" [
            testCase "the same generator seed gives the same order, and batches are rows of the subset" <| fun () ->
                let subset = mnist.Value.validation
                let firstLabels (seed: int64) =
                    use g = new Generator(seed)
                    [ for b in subset.batches (500, g) |> Seq.take 3 -> b.y.toInt64Array () ] |> Array.concat
                Expect.sequenceEqual (firstLabels 1L) (firstLabels 1L) "firstLabels 1L"
                Expect.notEqual (firstLabels 2L) (firstLabels 1L) "firstLabels 2L"
                // Without shuffling, the batches are the subset's rows in order.
                use all = subset.all ()
                use first = all.x.narrow (0, 0L, 4096L)
                for batch in subset.batches (4096, shuffle = false) |> Seq.take 1 do
                    Expect.isTrue (batch.x.equal first) "batch.x.equal first"
            testCase "dynamic binarization draws afresh each epoch with the pixel intensities as probabilities" <| fun () ->
                let subset = mnist.Value.test
                let epoch (seed: int64) =
                    use g = new Generator(seed)
                    [ for b in subset.batches (10000, g, shuffle = false, binarize = true) -> b.x.toFloat32Array () ] |> Array.concat
                let a, b = epoch 1L, epoch 2L
                Expect.isTrue (a |> Array.forall (fun v -> v = 0.0f || v = 1.0f)) "a |> Array.forall (fun v -> v = 0.0f || v = 1.0f)"
                Expect.sequenceEqual (epoch 1L) a "epoch 1L"
                Expect.notEqual b a "b"
                use all = subset.all ()
                let mean = all.x.mean().item ()
                // 7.84 million Bernoulli draws: the mean is within 0.001 of the mean intensity.
                within (mean - 0.001) (mean + 0.001) (Array.averageBy float a) "Array.averageBy float a"
            testCase "static binarization is one seeded draw, the same every time" <| fun () ->
                use b1 = mnist.Value.binarized 5L
                use b2 = mnist.Value.binarized 5L
                use b3 = mnist.Value.binarized 6L
                use x1 = b1.test.all ()
                use x2 = b2.test.all ()
                use x3 = b3.test.all ()
                Expect.isTrue (x1.x.equal x2.x) "x1.x.equal x2.x"
                Expect.isFalse (x1.x.equal x3.x) "x1.x.equal x3.x"
                use scope = new TensorScope()
                Expect.isTrue ((x1.x.eq(0.0).logical_or (x1.x.eq 1.0)).``to``(Float64).mean().item () = 1.0) "(x1.x.eq(0.0).logical_or (x1.x.eq 1.0)).``to``(Float64).mean().item () = 1.0"
                Expect.sequenceEqual (rows b1.validation) (rows mnist.Value.validation) "rows b1.validation"
        ]
        testSequenced <| testList "Folder" [
            testCase "RESEARCH_DATA names the data folder, and a missing one says to run setup" <| fun () ->
                let real = DataFolder.find ()
                Expect.isTrue (File.Exists(Path.Combine(real, "mnist", "train-images-idx3-ubyte"))) "File.Exists(Path.Combine(real, \"mnist\", \"train-images-idx3-ubyte\"))"
                let empty = tempFolder "data"
                withDataVariable empty (fun () ->
                    Expect.equal (DataFolder.find ()) (Path.GetFullPath empty) "DataFolder.find ()"
                    let e = raises<FileNotFoundException> (fun () -> Mnist.load () |> ignore)
                    Expect.stringContains e.Message "scripts/setup.sh" "e.Message"
                    Expect.stringContains e.Message "train-images-idx3-ubyte" "e.Message")
                withDataVariable (Path.Combine(empty, "absent")) (fun () ->
                    let e = raises<DirectoryNotFoundException> (fun () -> DataFolder.find () |> ignore)
                    Expect.stringContains e.Message "RESEARCH_DATA" "e.Message"
                    Expect.stringContains e.Message "scripts/setup.sh" "e.Message")
                Directory.Delete empty
            testCase "a truncated MNIST file is reported with its name" <| fun () ->
                let folder = tempFolder "mnist"
                for name in [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ] do
                    File.Copy(DataFolder.file (Path.Combine("mnist", name), None), Path.Combine(folder, name))
                let path = Path.Combine(folder, "t10k-images-idx3-ubyte")
                let bytes = File.ReadAllBytes path
                File.WriteAllBytes(path, bytes.[.. bytes.Length - 101])
                let e = raises<InvalidDataException> (fun () -> Mnist.load folder |> ignore)
                Expect.stringContains e.Message path "e.Message"
                Expect.stringContains e.Message ($"expected 7840000 bytes of data, found 7839900") "e.Message"
                Directory.Delete(folder, true)
        ]
    ]
