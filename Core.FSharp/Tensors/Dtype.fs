namespace Research.Core

/// Element types (codes shared with native/shim.h).
type Dtype =
    | Float32
    | Float64
    | Int64
    | Bool
    | UInt8
    member internal d.Code =
        match d with
        | Float32 -> 0
        | Float64 -> 1
        | Int64 -> 2
        | Bool -> 3
        | UInt8 -> 4
    member d.IsFloatingPoint = (d = Float32 || d = Float64)
    member d.ItemSize =
        match d with
        | Float32 -> 4
        | Float64 | Int64 -> 8
        | Bool | UInt8 -> 1
    static member internal OfCode(code: int) =
        match code with
        | 0 -> Float32
        | 1 -> Float64
        | 2 -> Int64
        | 3 -> Bool
        | 4 -> UInt8
        | c -> invalidArg "code" $"unknown dtype code {c}"
    override d.ToString() =
        match d with
        | Float32 -> "float32"
        | Float64 -> "float64"
        | Int64 -> "int64"
        | Bool -> "bool"
        | UInt8 -> "uint8"

/// Where a tensor lives. Cuda -1 means the current CUDA device.
type Device =
    | Cpu
    | Cuda of int
    member internal d.TypeCode = match d with Cpu -> 0 | Cuda _ -> 1
    member internal d.Index = match d with Cpu -> -1 | Cuda i -> i
    static member internal OfCodes(typeCode: int, index: int) = if typeCode = 0 then Cpu else Cuda index
    /// "cpu", "cuda" or "cuda:N", as in PyTorch.
    static member Parse(s: string) =
        match s.Trim().ToLowerInvariant() with
        | "cpu" -> Cpu
        | "cuda" -> Cuda -1
        | d when d.StartsWith "cuda:" ->
            match System.Int32.TryParse(d.Substring 5) with
            | true, i when i >= 0 -> Cuda i
            | _ -> invalidArg "s" $"bad device '{s}': expected cpu, cuda or cuda:N"
        | _ -> invalidArg "s" $"bad device '{s}': expected cpu, cuda or cuda:N"
    override d.ToString() =
        match d with
        | Cpu -> "cpu"
        | Cuda -1 -> "cuda"
        | Cuda i -> $"cuda:{i}"
