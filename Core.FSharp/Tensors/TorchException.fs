namespace Research.Core

/// A libtorch error raised on the native side, carrying libtorch's own message.
type TorchException(message: string) =
    inherit System.Exception(message)
