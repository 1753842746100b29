namespace Research.Core.Data

open System
open System.Runtime.InteropServices
open Research.Core

/// A minibatch: images [B, 1, 28, 28] float32 and labels [B] int64.
type Batch =
    { x: Tensor
      y: Tensor }

    interface IDisposable with
        member b.Dispose() =
            b.x.Dispose()
            b.y.Dispose()

/// Some rows (indices, int64) of a labelled image set that is held once in memory (images
/// [N, 1, 28, 28] float32 in [0, 1], labels [N] int64): train and validation share one tensor.
[<Sealed>]
type ImageSubset internal (images: Tensor, labels: Tensor, indices: Tensor) =

    /// The images and labels at the rows `select` gives, made in a private scope so that only they
    /// reach the caller; the images binarized by a Bernoulli draw when asked.
    let gather (select: unit -> Tensor) (binarize: bool) (generator: Generator option) =
        use scope = new TensorScope()
        let rows = select ()
        let x = images.index_select (0, rows)
        let x = if binarize then torch.bernoulli (x, ?generator = generator) else x
        { x = scope.Detach x; y = scope.Detach(labels.index_select (0, rows)) }

    member _.count = indices.numel
    /// The shape of each image.
    member _.imageShape = ImageShape.ofBatch images
    /// The rows of the shared image and label tensors that form this subset.
    member _.indices = indices

    /// Every image and label of the subset as one batch (copies that the caller disposes).
    member _.all() = gather (fun () -> indices) false None

    /// The subset's rows in an order drawn from the generator: one epoch's order, as `batches`
    /// draws it (the caller disposes it).
    member _.shuffledRows(generator: Generator) =
        use scope = new TensorScope()
        scope.Detach(indices.index_select (0, torch.randperm (indices.numel, generator = generator)))

    /// The images and labels at some of the rows (a slice of shuffledRows; copies that the caller
    /// disposes).
    member _.select(rows: Tensor) = gather (fun () -> rows) false None

    /// One epoch of minibatches, gathered with index_select along a permutation drawn from the
    /// generator (libtorch's default one when null; in order when shuffle is false). With binarize,
    /// each batch is a fresh Bernoulli draw with the pixel intensities as probabilities (dynamic
    /// binarization). A batch lives until the next one is drawn (or the enumeration ends): clone
    /// what must outlive it.
    member _.batches
        (
            batchSize: int,
            [<Optional; DefaultParameterValue(null: Generator)>] generator: Generator,
            [<Optional; DefaultParameterValue(true)>] shuffle: bool,
            [<Optional; DefaultParameterValue(false)>] binarize: bool,
            [<Optional; DefaultParameterValue(false)>] dropLast: bool
        ) : Batch seq =
        if batchSize <= 0 then invalidArg "batchSize" $"batch size must be positive, got {batchSize}"
        let n = indices.numel
        let size = int64 batchSize
        seq {
            let order =
                if shuffle then
                    use scope = new TensorScope()
                    scope.Detach(indices.index_select (0, torch.randperm (n, ?generator = Option.ofObj generator)))
                else
                    null
            try
                for start in 0L .. size .. n - 1L do
                    let length = min size (n - start)
                    if length = size || not dropLast then
                        let batch =
                            gather (fun () -> (if isNull order then indices else order).narrow (0, start, length))
                                binarize (Option.ofObj generator)
                        use _ = batch
                        yield batch
            finally
                if not (isNull order) then order.Dispose()
        }

/// MNIST (LeCun et al. 1998) from the IDX files in <data folder>/mnist: the 60000 training images
/// split at random (seeded) into train and validation, and the 10000 test images. Each image set
/// is one float32 tensor [N, 1, 28, 28] in [0, 1] (bytes / 255), labels int64 [N].
[<Sealed>]
type Mnist private (trainImages: Tensor, trainLabels: Tensor, testImages: Tensor, testLabels: Tensor, trainRows: Tensor,
                    validationRows: Tensor, testRows: Tensor) =

    static let readLabels (path: string) (count: int64) =
        let idx = Idx.read path
        match idx.ElementType, idx.Shape with
        | IdxElementType.UInt8, [| n |] when int64 n = count ->
            let labels = idx.Data :?> byte[]
            match Array.tryFindIndex (fun l -> l > 9uy) labels with
            | Some i -> raise (IO.InvalidDataException $"IDX file '{path}': label {i} is {labels.[i]}, not a digit")
            | None -> torch.tensor (Array.map int64 labels)
        | t, shape ->
            let dims = shape |> Array.map string |> String.concat ", "
            raise (IO.InvalidDataException $"IDX file '{path}': expected {count} uint8 labels, found {t} [{dims}]")

    /// The shape of an MNIST image: one channel of 28 x 28 pixels.
    static member imageShape = { Channels = 1; Height = 28; Width = 28 }

    member val train = ImageSubset(trainImages, trainLabels, trainRows)
    member val validation = ImageSubset(trainImages, trainLabels, validationRows)
    member val test = ImageSubset(testImages, testLabels, testRows)

    /// Reads MNIST from the folder holding its four IDX files (null: mnist/ in DataFolder.find())
    /// and sets aside validationSize of the training images, chosen by a permutation drawn from
    /// Generator(seed). trainLimit (0: all) keeps only that many of the remaining training images,
    /// for quick runs; validation is unaffected.
    static member load
        (
            [<Optional; DefaultParameterValue(null: string)>] folder: string,
            [<Optional; DefaultParameterValue(10000)>] validationSize: int,
            [<Optional; DefaultParameterValue(0L)>] seed: int64,
            [<Optional; DefaultParameterValue(0)>] trainLimit: int
        ) =
        let file name =
            match folder with
            | null -> DataFolder.file (IO.Path.Combine("mnist", name), None)
            | f -> DataFolder.file (name, Some f)
        // A private scope: the data set owns its tensors, whatever scope the caller is in.
        use scope = new TensorScope()
        let trainImages = ImageFile.read (file "train-images-idx3-ubyte")
        let testImages = ImageFile.read (file "t10k-images-idx3-ubyte")
        let n = trainImages.size 0
        let validation = int64 validationSize
        if validation < 0L || validation > n then
            invalidArg "validationSize" $"validation size must be between 0 and {n}, got {validation}"
        let trainLabels = readLabels (file "train-labels-idx1-ubyte") n
        let testLabels = readLabels (file "t10k-labels-idx1-ubyte") (testImages.size 0)
        use generator = new Generator(seed)
        let permutation = torch.randperm (n, generator = generator)
        let keep (t: Tensor) = scope.Detach t
        let trainCount =
            match trainLimit with
            | 0 -> n - validation
            | limit when limit > 0 -> min (int64 limit) (n - validation)
            | limit -> invalidArg "trainLimit" $"the training limit must be positive (or 0 for all), got {limit}"
        new Mnist(keep trainImages, keep trainLabels, keep testImages, keep testLabels, keep (permutation.narrow (0, 0L, trainCount)),
                  keep (permutation.narrow (0, n - validation, validation)),
                  keep (torch.arange (float (testImages.size 0), dtype = Dtype.Int64)))

    /// Static binarization: every pixel drawn once from Bernoulli(intensity) with Generator(seed),
    /// with the same split. The result holds its own images; dispose both.
    member _.binarized(seed: int64) =
        use generator = new Generator(seed)
        use scope = new TensorScope()
        let keep (t: Tensor) = scope.Detach t
        new Mnist(keep (torch.bernoulli (trainImages, generator)), keep (trainLabels.clone ()),
                  keep (torch.bernoulli (testImages, generator)), keep (testLabels.clone ()), keep (trainRows.clone ()),
                  keep (validationRows.clone ()), keep (testRows.clone ()))

    /// Exact sums over the training images and labels, which two copies of the data that differ
    /// almost surely do not share: the count, the grey levels' total, and the per-image totals and
    /// the labels weighted by position. For data-parallel ranks, each of which reads its own copy.
    member _.Fingerprint =
        use scope = new TensorScope()
        let n = trainImages.size 0
        // Each image's grey levels (0..255) sum to an integer below 2^24, exact in float32 in any
        // order; the weighted totals stay below 2^53, exact in float64.
        let levels = (trainImages * 255.0).round().view(n, -1L).sum(1).``to`` Dtype.Float64
        let position = torch.arange (float n, dtype = Dtype.Float64)
        [| float n; levels.sum().item (); (levels * position).sum().item (); (trainLabels.``to`` Dtype.Float64 * position).sum().item () |]

    member _.Dispose() =
        for t in [ trainImages; trainLabels; testImages; testLabels; trainRows; validationRows; testRows ] do
            t.Dispose()

    interface IDisposable with
        member m.Dispose() = m.Dispose()
