namespace Research.Core.Data

open System.IO
open Research.Core

/// An IDX file of 28x28 uint8 images (MNIST, Fashion-MNIST, ...) as one float32 tensor
/// [N; 1; 28; 28] in [0, 1] (bytes / 255).
module ImageFile =
    let read (path: string) =
        let idx = Idx.read path
        match idx.ElementType, idx.Shape with
        | IdxElementType.UInt8, [| n; 28; 28 |] ->
            use scope = new TensorScope()
            let bytes = torch.tensor (idx.Data :?> byte[], [| int64 n; 1L; 28L; 28L |])
            scope.MoveToOuter((bytes.``to`` Float32).div_ 255.0)
        | t, shape ->
            let dims = shape |> Array.map string |> String.concat ", "
            raise (InvalidDataException $"IDX file '{path}': expected uint8 images [N, 28, 28], found {t} [{dims}]")
