namespace Research.Core.Data

open System.IO
open Research.Core

/// An IDX file of uint8 images [N, H, W] (MNIST, Fashion-MNIST, generated samples, ...) as one
/// float32 tensor [N; 1; H; W] in [0, 1] (bytes / 255).
module ImageFile =
    /// Writes an IDX file of n uint8 images [n, H, W] (round(255 x)), atomically, as MNIST stores
    /// its digits, from images [count; 1; H; W] in [0, 1] that arrive a batch at a time: `fill put`
    /// hands every batch, in order, to `put`, which writes it to the file at once, so that one batch
    /// is held whatever n. A file larger than its disk's free room is refused at the first batch.
    let writeBatches (path: string) (n: int) (fill: (Tensor -> unit) -> unit) =
        let bigEndian (v: int) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]
        let roomFor (shape: ImageShape) =
            let bytes = 16L + int64 n * int64 shape.Height * int64 shape.Width
            let free = DriveInfo(Path.GetDirectoryName(Path.GetFullPath path)).AvailableFreeSpace
            if bytes > free then
                let gb (b: int64) = float b / 1e9
                raise (IOException $"{n} images take {gb bytes:F1} GB and its disk has {gb free:F1} GB free; ask for fewer (--n)")
        Research.Core.IO.AtomicFile.writeWith path (fun stream ->
            let mutable written, size = 0, None
            fill (fun images ->
                let shape = ImageShape.ofBatch images
                if shape.Channels <> 1 then invalidArg "images" $"an IDX image file holds one channel; these images have {shape.Channels}"
                match size with
                | None ->
                    roomFor shape
                    size <- Some shape
                    let header = Array.concat [ [| 0uy; 0uy; 8uy; 3uy |]; bigEndian n; bigEndian shape.Height; bigEndian shape.Width ]
                    stream.Write(header, 0, header.Length)
                | Some earlier when earlier <> shape -> invalidArg "images" $"images of {shape} after images of {earlier} in one IDX file"
                | Some _ -> ()
                let pixels = images.toFloat32Array () |> Array.map (fun v -> byte (System.Math.Round(float (max 0.0f (min 1.0f v)) * 255.0)))
                stream.Write(pixels, 0, pixels.Length)
                written <- written + int (images.size 0))
            if written <> n then invalidOp $"{written} images were given for an IDX file of {n}")

    /// Writes images [N; 1; H; W] in [0, 1] as an IDX file of uint8 [N, H, W] (round(255 x)),
    /// atomically, as MNIST stores its digits.
    let write (path: string) (images: Tensor) =
        writeBatches path (int (images.size 0)) (fun put -> put images)

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
