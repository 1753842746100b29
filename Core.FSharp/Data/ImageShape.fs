namespace Research.Core.Data

/// The shape of one image: models are built for a shape given as a value, and the data say which.
type ImageShape =
    { Channels: int
      Height: int
      Width: int }

    member s.Pixels = s.Channels * s.Height * s.Width
    /// [channels; height; width], for view and reshape.
    member s.Dims = [| int64 s.Channels; int64 s.Height; int64 s.Width |]
    override s.ToString() = $"{s.Channels}x{s.Height}x{s.Width}"

module ImageShape =
    /// The shape of images [N; C; H; W].
    let ofBatch (images: Research.Core.Tensor) =
        if images.dim <> 4 then invalidArg "images" $"expected images [N, C, H, W], got {images.dim} dimensions"
        { Channels = int images.shape[1]; Height = int images.shape[2]; Width = int images.shape[3] }
