namespace Research.Core.Checkpoints

#nowarn "9"

open System
open System.IO
open Microsoft.FSharp.NativeInterop
open Research.Core
open Research.Core.IO
open Research.Core.Nn

/// Checkpoints as safetensors files (the format of SafetensorsFormat), readable by PyTorch's
/// ecosystem: a StateDict's tensors and metadata, written atomically.
[<AbstractClass; Sealed>]
type Safetensors =

    static member private Code(dtype: Dtype) =
        match dtype with
        | Float32 -> "F32"
        | Float64 -> "F64"
        | Int64 -> "I64"
        | UInt8 -> "U8"
        | Bool -> "BOOL"

    static member private DtypeOf(code: string) =
        match code with
        | "F32" -> Float32
        | "F64" -> Float64
        | "I64" -> Int64
        | "U8" -> UInt8
        | "BOOL" -> Bool
        | other -> invalidArg "code" $"unknown safetensors dtype '{other}'"

    /// The memory of a contiguous CPU tensor as bytes (valid while the tensor lives).
    static member private Memory(t: Tensor) =
        Span<byte>(NativePtr.toVoidPtr (NativePtr.ofNativeInt<byte> t.data_ptr), int (t.numel * int64 t.dtype.ItemSize))

    /// The little-endian bytes of a tensor, row-major.
    static member private Bytes(t: Tensor) =
        use scope = new TensorScope()
        let cpu = t.detach().``to``(Cpu).contiguous ()
        let bytes = if cpu.numel = 0L then [||] else Safetensors.Memory(cpu).ToArray()
        GC.KeepAlive cpu
        bytes

    /// Writes the state dict to path atomically: a temporary file in the same folder, flushed to
    /// disk, then renamed over path.
    static member save(path: string, state: StateDict) =
        if not BitConverter.IsLittleEndian then raise (PlatformNotSupportedException "safetensors needs a little-endian machine")
        let entries =
            [ for name, t in state.entries ->
                  { Name = name; Dtype = Safetensors.Code t.dtype; Shape = t.shape; Data = ReadOnlyMemory(Safetensors.Bytes t) } ]
        AtomicFile.writeWith path (fun stream -> SafetensorsFormat.write (stream, entries, state.metadata))

    /// Reads a safetensors file into a StateDict of CPU tensors (the caller disposes it);
    /// InvalidDataException naming the file and the problem when it is malformed.
    static member load(path: string) =
        if not (File.Exists path) then raise (FileNotFoundException($"safetensors file '{path}' does not exist", path))
        Safetensors.parse (path, File.ReadAllBytes path)

    /// Reads a safetensors file's bytes (`source` names them in errors) into a StateDict, as load.
    static member parse(source: string, bytes: byte[]) =
        if not BitConverter.IsLittleEndian then raise (PlatformNotSupportedException "safetensors needs a little-endian machine")
        let entries, metadata = SafetensorsFormat.parse (source, bytes)
        use scope = new TensorScope()
        let tensors =
            [ for e in entries ->
                  let t = torch.empty (e.Shape, Safetensors.DtypeOf e.Dtype)
                  if e.Data.Length > 0 then e.Data.Span.CopyTo(Safetensors.Memory t)
                  e.Name, scope.Detach t ]
        new StateDict(tensors, metadata)
