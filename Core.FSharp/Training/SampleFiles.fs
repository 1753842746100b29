/// Generated images as files that other tools and commands read back: an IDX file of all of them
/// (uint8, as MNIST stores its digits: `vae eval --images` takes it) and a PNG grid of the first 64.
module Research.Core.Training.SampleFiles

open Research.Core
open Research.Core.Data
open Research.Core.IO

/// n images made 200 at a time by `make count`, each batch's intermediates freed before the next
/// (a flow decoding 10,000 images in one scope holds tens of GB; 200 at a time, about 1 GB); the
/// caller owns the result.
let draw (n: int) (make: int -> Tensor) =
    use scope = new TensorScope()
    let parts =
        [ for start in 0 .. 200 .. n - 1 ->
              use batch = new TensorScope()
              batch.MoveToOuter(make (min 200 (n - start))) ]
    scope.MoveToOuter(torch.cat (parts, 0))

/// Writes images [n; 1; H; W] in [0, 1] as `<output>-idx3-ubyte` and `<output>.png`; returns both paths.
let write (output: string) (images: Tensor) =
    let shape = ImageShape.ofBatch images
    let n = images.size 0
    let idx, png = output + "-idx3-ubyte", output + ".png"
    ImageFile.write idx images
    use scope = new TensorScope()
    let shown = images.narrow (0, 0L, min 64L n)
    let cols = int (min 8L n)
    AtomicFile.writeBytes png (Png.Grid(shown.toFloat32Array (), shape.Height, shape.Width, (int (shown.size 0) + cols - 1) / cols, cols))
    idx, png
