/// Generated images as files that other tools and commands read back: an IDX file of all of them
/// (uint8, as MNIST stores its digits: `vae eval --images` takes it) and a PNG grid of the first 64.
module Research.Core.Training.SampleFiles

open Research.Core
open Research.Core.Data
open Research.Core.IO

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
