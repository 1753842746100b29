/// Generated images as files that other tools and commands read back: an IDX file of all of them
/// (uint8, as MNIST stores its digits: `vae eval --images` takes it) and a PNG grid of the first 64.
module Research.Core.Training.SampleFiles

open Research.Core
open Research.Core.Data
open Research.Core.IO

/// Images a model draws, not yet drawn: `d.Collect collect` sets up the drawing (its generator,
/// no gradients) and hands `collect` the function that makes the next `count` images [count; C; H;
/// W] in [0, 1]. `draw n` collects n of them into one tensor (for scores); `writeDrawn prefix n`
/// writes n to files as they are made, holding one batch at a time whatever n.
type Drawing =
    abstract Collect: ((int -> Tensor) -> 'T) -> 'T

/// The drawing of the images `make generator count` makes, with no gradients and a generator
/// seeded with `seed`: the same seed gives the same images, however they are collected.
let drawing (seed: int64) (make: Generator -> int -> Tensor) =
    { new Drawing with
        member _.Collect collect =
            use _ = torch.no_grad ()
            use generator = new Generator(seed)
            collect (make generator) }

/// Hands `take` (the batch's scope, its first index, the images) n images made by `make count`
/// 200 at a time, each batch and its intermediates freed before the next (a flow decoding 10,000
/// images in one scope holds tens of GB; 200 at a time, about 1 GB), telling `made` after each
/// batch how many images are made (a diffusion model's 10,000 take minutes).
let private batches (made: int64 -> unit) (n: int) (make: int -> Tensor) (take: TensorScope -> int -> Tensor -> unit) =
    for start in 0 .. 200 .. n - 1 do
        use scope = new TensorScope()
        let count = min 200 (n - start)
        take scope start (make count)
        made (int64 (start + count))

/// n images made by `make count`, gathered into one tensor allocated once; the caller owns it.
/// `made` is told after each batch how many are made.
let draw (made: int64 -> unit) (n: int) (make: int -> Tensor) =
    let mutable all: Tensor = null
    try
        batches made n make (fun scope start images ->
            if isNull all then all <- scope.Detach(torch.empty (Array.append [| int64 n |] images.shape[1..]))
            all.narrow(0, int64 start, images.size 0).copy_ images |> ignore)
        all
    with _ ->
        if not (isNull all) then all.Dispose()
        reraise ()

/// Writes images handed over a batch at a time by `fill` as `<output>-idx3-ubyte` and the first 64
/// as `<output>.png`; returns both paths.
let private writeFiles (output: string) (n: int) (fill: (Tensor -> unit) -> unit) =
    let idx, png = output + "-idx3-ubyte", output + ".png"
    let mutable shown = None
    ImageFile.writeBatches idx n (fun put ->
        fill (fun images ->
            if shown.IsNone then
                let first = images.narrow (0, 0L, min 64L (images.size 0))
                shown <- Some(first.toFloat32Array (), ImageShape.ofBatch images, int (first.size 0))
                first.Dispose()
            put images))
    let pixels, shape, count = shown.Value
    let cols = min 8 count
    AtomicFile.writeBytes png (Png.Grid(pixels, shape.Height, shape.Width, (count + cols - 1) / cols, cols))
    idx, png

/// Writes images [n; 1; H; W] in [0, 1] as `<output>-idx3-ubyte` and `<output>.png`; returns both paths.
let write (output: string) (images: Tensor) = writeFiles output (int (images.size 0)) (fun put -> put images)

/// Writes n images made by `make count` as they are made, as `write` writes them, telling `made`
/// after each batch how many are written; returns both paths.
let writeDrawn (made: int64 -> unit) (output: string) (n: int) (make: int -> Tensor) =
    writeFiles output n (fun put -> batches made n make (fun _ _ images -> put images))
