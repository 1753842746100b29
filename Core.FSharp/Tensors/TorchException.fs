namespace Research.Core

open System
open System.Text.RegularExpressions

/// A libtorch error raised on the native side, carrying libtorch's own message.
type TorchException(message: string) =
    inherit Exception(message)

    /// The exception for a message from the shim: libtorch's text as it is, except a failed
    /// allocation, which libtorch words as an internal check of its allocator.
    static member FromNative(message: string) =
        let allocation = Regex.Match(message, @"can't allocate memory: you tried to allocate (\d+) bytes")
        if allocation.Success then
            let gib (bytes: float) = bytes / float (1L <<< 30)
            let asked = gib (float allocation.Groups[1].Value)
            let has = gib (float (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes))
            TorchException $"out of memory: one tensor of {asked:F1} GiB could not be allocated (this machine has {has:F1} GiB); choose a smaller model or --batch-size"
        else TorchException message
