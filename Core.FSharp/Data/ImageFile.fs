namespace Research.Core.Data

open System.IO
open Research.Core

/// An IDX file of uint8 images [N, H, W] (MNIST, Fashion-MNIST, generated samples, ...) as one
/// float32 tensor [N; 1; H; W] in [0, 1] (bytes / 255).
module ImageFile =
    /// Writes images [N; 1; H; W] in [0, 1] as an IDX file of uint8 [N, H, W] (round(255 x)),
    /// atomically, as MNIST stores its digits.
    let write (path: string) (images: Tensor) =
        let shape = ImageShape.ofBatch images
        if shape.Channels <> 1 then invalidArg "images" $"an IDX image file holds one channel; these images have {shape.Channels}"
        let n = images.size 0
        let pixels = images.toFloat32Array () |> Array.map (fun v -> byte (System.Math.Round(float (max 0.0f (min 1.0f v)) * 255.0)))
        let bigEndian (v: int) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]
        let header = Array.concat [ [| 0uy; 0uy; 8uy; 3uy |]; bigEndian (int n); bigEndian shape.Height; bigEndian shape.Width ]
        Research.Core.IO.AtomicFile.writeBytes path (Array.append header pixels)

    let read (path: string) =
        let idx = Idx.read path
        match idx.ElementType, idx.Shape with
        | IdxElementType.UInt8, [| 0; _; _ |] -> raise (InvalidDataException $"IDX file '{path}' holds no images")
        | IdxElementType.UInt8, [| n; h; w |] ->
            let data = idx.Data :?> byte[]
            // Bytes of 0 and 1 alone are binary images stored the wrong way: read as grey levels
            // they would be black and 1/255, silently.
            if Array.contains 1uy data && Array.forall (fun b -> b <= 1uy) data then
                raise (InvalidDataException $"IDX file '{path}': every pixel is 0 or 1; binary images must be stored as 0 and 255")
            use scope = new TensorScope()
            let bytes = torch.tensor (data, [| int64 n; 1L; int64 h; int64 w |])
            scope.MoveToOuter((bytes.``to`` Float32).div_ 255.0)
        | t, shape ->
            let dims = shape |> Array.map string |> String.concat ", "
            raise (InvalidDataException $"IDX file '{path}': expected uint8 images [N, H, W], found {t} [{dims}]")

    /// Images [N; C; H; W] of the shape a model was built for; InvalidDataException otherwise.
    let readAs (shape: ImageShape) (path: string) =
        let x = read path
        let found = ImageShape.ofBatch x
        if found <> shape then
            x.Dispose()
            raise (InvalidDataException $"IDX file '{path}': its images are {found}, the model's are {shape}")
        x
