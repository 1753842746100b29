/// MNIST as a dataset: split sizes and determinism, values, minibatches, binarization, data folder.
module Research.Core.Tests.DatasetTests

open System
open System.IO
open Xunit
open Research.Core
open Research.Core.Data
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

let rows (subset: ImageSubset) = subset.indices.toInt64Array ()

type Split() =

    [<Fact>]
    member _.``the default split is 50000 train and 10000 validation, disjoint, covering the training file`` () =
        let m = mnist.Value
        Assert.Equal(50000L, m.train.count)
        Assert.Equal(10000L, m.validation.count)
        Assert.Equal(10000L, m.test.count)
        let all = Array.append (rows m.train) (rows m.validation) |> Array.sort
        Assert.Equal<int64>([| 0L .. 59999L |], all)
        Assert.Equal<int64>([| 0L .. 9999L |], rows m.test)

    [<Fact>]
    member _.``the split is the seed's: same seed, same split; another seed, another split; sizes configurable`` () =
        use again = Mnist.load ()
        Assert.Equal<int64>(rows mnist.Value.validation, rows again.validation)
        use other = Mnist.load (seed = 7L, validationSize = 5000)
        Assert.Equal(55000L, other.train.count)
        Assert.Equal(5000L, other.validation.count)
        Assert.NotEqual<int64>(rows mnist.Value.validation |> Array.take 5000, rows other.validation)
        Assert.Throws<ArgumentException>(fun () -> Mnist.load (validationSize = 60001) |> ignore) |> ignore
        // A training limit keeps the first rows of the training part and leaves validation alone.
        use limited = Mnist.load (trainLimit = 1000)
        Assert.Equal<int64>(rows mnist.Value.train |> Array.take 1000, rows limited.train)
        Assert.Equal<int64>(rows mnist.Value.validation, rows limited.validation)

    [<Fact>]
    member _.``images are the file's bytes over 255 as float32 [N, 1, 28, 28], labels int64`` () =
        use scope = new TensorScope()
        let m = mnist.Value
        let raw = Idx.read (DataFolder.file (Path.Combine("mnist", "t10k-images-idx3-ubyte"), None))
        let labels = Idx.read (DataFolder.file (Path.Combine("mnist", "t10k-labels-idx1-ubyte"), None))
        use all = m.test.all ()
        Assert.Equal<int64>([| 10000L; 1L; 28L; 28L |], all.x.shape)
        Assert.Equal(Float32, all.x.dtype)
        Assert.Equal(Dtype.Int64, all.y.dtype)
        let expected = (raw.Data :?> byte[]) |> Array.map (fun b -> float32 b / 255.0f)
        Assert.Equal<float32>(expected, all.x.toFloat32Array ())
        Assert.Equal<int64>((labels.Data :?> byte[]) |> Array.map int64, all.y.toInt64Array ())

// Reads Tensor.LiveCount, so it runs alone.
[<Collection(ProcessWideState)>]
type Epoch() =

    [<Fact>]
    member _.``an epoch visits every row once, in batches of the given size, and frees them`` () =
        let subset = mnist.Value.validation
        use g = new Generator(3L)
        let start = Tensor.LiveCount
        let sizes, labels =
            [ for b in subset.batches (128, g) -> b.x.size 0, b.y.toInt64Array () ] |> List.unzip
        Assert.Equal(79, sizes.Length)
        Assert.True(sizes |> List.take 78 |> List.forall ((=) 128L))
        Assert.Equal(10000L - 78L * 128L, List.last sizes)
        // The epoch's tensors are gone once it has been enumerated.
        Assert.Equal(start, Tensor.LiveCount)
        use all = subset.all ()
        Assert.Equal<int64>(Array.sort (all.y.toInt64Array ()), Array.concat labels |> Array.sort)
        let dropped = subset.batches (128, g, dropLast = true) |> Seq.length
        Assert.Equal(78, dropped)

type Batches() =

    [<Fact>]
    member _.``the same generator seed gives the same order, and batches are rows of the subset`` () =
        let subset = mnist.Value.validation
        let firstLabels (seed: int64) =
            use g = new Generator(seed)
            [ for b in subset.batches (500, g) |> Seq.take 3 -> b.y.toInt64Array () ] |> Array.concat
        Assert.Equal<int64>(firstLabels 1L, firstLabels 1L)
        Assert.NotEqual<int64>(firstLabels 1L, firstLabels 2L)
        // Without shuffling, the batches are the subset's rows in order.
        use all = subset.all ()
        use first = all.x.narrow (0, 0L, 4096L)
        for batch in subset.batches (4096, shuffle = false) |> Seq.take 1 do
            Assert.True(batch.x.equal first)

    [<Fact>]
    member _.``dynamic binarization draws afresh each epoch with the pixel intensities as probabilities`` () =
        let subset = mnist.Value.test
        let epoch (seed: int64) =
            use g = new Generator(seed)
            [ for b in subset.batches (10000, g, shuffle = false, binarize = true) -> b.x.toFloat32Array () ] |> Array.concat
        let a, b = epoch 1L, epoch 2L
        Assert.True(a |> Array.forall (fun v -> v = 0.0f || v = 1.0f))
        Assert.Equal<float32>(a, epoch 1L)
        Assert.NotEqual<float32>(a, b)
        use all = subset.all ()
        let mean = all.x.mean().item ()
        // 7.84 million Bernoulli draws: the mean is within 0.001 of the mean intensity.
        Assert.InRange(Array.averageBy float a, mean - 0.001, mean + 0.001)

    [<Fact>]
    member _.``static binarization is one seeded draw, the same every time`` () =
        use b1 = mnist.Value.binarized 5L
        use b2 = mnist.Value.binarized 5L
        use b3 = mnist.Value.binarized 6L
        use x1 = b1.test.all ()
        use x2 = b2.test.all ()
        use x3 = b3.test.all ()
        Assert.True(x1.x.equal x2.x)
        Assert.False(x1.x.equal x3.x)
        use scope = new TensorScope()
        Assert.True((x1.x.eq(0.0).logical_or (x1.x.eq 1.0)).``to``(Float64).mean().item () = 1.0)
        Assert.Equal<int64>(rows mnist.Value.validation, rows b1.validation)

[<Collection(ProcessWideState)>]
type Folder() =

    let withDataVariable (value: string) (f: unit -> unit) =
        let before = Environment.GetEnvironmentVariable "RESEARCH_DATA"
        Environment.SetEnvironmentVariable("RESEARCH_DATA", value)
        try f () finally Environment.SetEnvironmentVariable("RESEARCH_DATA", before)

    [<Fact>]
    member _.``RESEARCH_DATA names the data folder, and a missing one says to run setup`` () =
        let real = DataFolder.find ()
        Assert.True(File.Exists(Path.Combine(real, "mnist", "train-images-idx3-ubyte")))
        let empty = tempFolder "data"
        withDataVariable empty (fun () ->
            Assert.Equal(Path.GetFullPath empty, DataFolder.find ())
            let e = Assert.Throws<FileNotFoundException>(fun () -> Mnist.load () |> ignore)
            Assert.Contains("scripts/setup.sh", e.Message)
            Assert.Contains("train-images-idx3-ubyte", e.Message))
        withDataVariable (Path.Combine(empty, "absent")) (fun () ->
            let e = Assert.Throws<DirectoryNotFoundException>(fun () -> DataFolder.find () |> ignore)
            Assert.Contains("RESEARCH_DATA", e.Message)
            Assert.Contains("scripts/setup.sh", e.Message))
        Directory.Delete empty

    [<Fact>]
    member _.``a truncated MNIST file is reported with its name`` () =
        let folder = tempFolder "mnist"
        for name in [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ] do
            File.Copy(DataFolder.file (Path.Combine("mnist", name), None), Path.Combine(folder, name))
        let path = Path.Combine(folder, "t10k-images-idx3-ubyte")
        let bytes = File.ReadAllBytes path
        File.WriteAllBytes(path, bytes.[.. bytes.Length - 101])
        let e = Assert.Throws<InvalidDataException>(fun () -> Mnist.load folder |> ignore)
        Assert.Contains(path, e.Message)
        Assert.Contains($"expected 7840000 bytes of data, found 7839900", e.Message)
        Directory.Delete(folder, true)
