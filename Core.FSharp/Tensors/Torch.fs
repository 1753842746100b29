namespace Research.Core

#nowarn "9"
#nowarn "51"

open System
open Microsoft.FSharp.NativeInterop
open Research.Core.Native

/// Restores the previous autograd mode of this thread when disposed (dispose on the same thread).
[<Sealed>]
type GradMode internal (enabled: bool) =
    let previous = queryInt (fun p -> ts_is_grad_enabled p) <> 0
    do check (ts_set_grad_enabled (if enabled then 1 else 0))
    interface IDisposable with
        member _.Dispose() = check (ts_set_grad_enabled (if previous then 1 else 0))

/// PyTorch's torch namespace: factories, random numbers, joins, global settings.
/// Shapes are int64[]; dtype defaults to Float32 and device to Cpu.
[<AbstractClass; Sealed>]
type torch =
    // ---- global settings ----
    static member manual_seed(seed: int64) = check (ts_manual_seed (uint64 seed))
    /// libtorch's intra-op thread count (at::set_num_threads).
    static member set_num_threads(n: int) =
        if n < 1 then invalidArg "n" $"thread count must be positive, got {n}"
        check (ts_set_num_threads n)
    static member get_num_threads() = queryInt (fun p -> ts_get_num_threads p)
    /// OpenBLAS's own thread count; false when OpenBLAS is not loaded. With libtorch's OpenMP
    /// pool on top, more than one OpenBLAS thread oversubscribes a small machine.
    static member set_openblas_threads(n: int) = queryInt (fun p -> ts_set_openblas_threads (n, p)) <> 0
    static member cuda_is_available() = queryInt (fun p -> ts_cuda_is_available p) <> 0
    static member cuda_device_count() = queryInt (fun p -> ts_cuda_device_count p)
    static member is_grad_enabled() = queryInt (fun p -> ts_is_grad_enabled p) <> 0
    /// `use _ = torch.no_grad()`: no graph is recorded until disposed.
    static member no_grad() : IDisposable = new GradMode(false)
    static member enable_grad() : IDisposable = new GradMode(true)
    /// A new innermost TensorScope for this thread.
    static member NewScope() = new TensorScope()

    // ---- from .NET arrays (copied) ----
    static member private FromArray<'T when 'T: unmanaged>(data: 'T[], shape: int64[] option, dtype: Dtype, device: Device option, requiresGrad: bool option) =
        if isNull data then nullArg "data"
        let shape = defaultArg shape [| int64 data.Length |]
        let n = Array.fold (*) 1L shape
        if n <> int64 data.Length then
            invalidArg "shape" $"""shape [{shape |> Array.map string |> String.concat ", "}] holds {n} elements but the data has {data.Length}"""
        let mutable h = 0n
        (use p = fixed data
         check (ts_from_blob (NativePtr.toNativeInt p, shape, shape.Length, dtype.Code, &&h)))
        let t = Tensor.Wrap h
        let t =
            match device with
            | Some d when d <> Cpu -> (use cpu = t in cpu.``to`` d)
            | _ -> t
        if defaultArg requiresGrad false then t.requires_grad_ () else t
    static member tensor(data: float32[], ?shape: int64[], ?device: Device, ?requires_grad: bool) =
        torch.FromArray(data, shape, Float32, device, requires_grad)
    static member tensor(data: float[], ?shape: int64[], ?device: Device, ?requires_grad: bool) =
        torch.FromArray(data, shape, Float64, device, requires_grad)
    static member tensor(data: int64[], ?shape: int64[], ?device: Device) = torch.FromArray(data, shape, Dtype.Int64, device, None)
    static member tensor(data: bool[], ?shape: int64[], ?device: Device) = torch.FromArray(data, shape, Bool, device, None)
    static member tensor(data: byte[], ?shape: int64[], ?device: Device) = torch.FromArray(data, shape, UInt8, device, None)
    static member scalar_tensor(value: float, ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_scalar_tensor (value, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))

    // ---- factories ----
    static member zeros(shape: int64[], ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_zeros (shape, shape.Length, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member ones(shape: int64[], ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_ones (shape, shape.Length, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member empty(shape: int64[], ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_empty (shape, shape.Length, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member full(shape: int64[], value: float, ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_full (shape, shape.Length, value, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member zeros_like(t: Tensor) = t.Op1 ts_zeros_like
    static member ones_like(t: Tensor) = t.Op1 ts_ones_like
    static member full_like(t: Tensor, value: float) = t.Op1(fun (a, o) -> ts_full_like (a, value, o))
    /// start, start+step, ... below stop.
    static member arange(start: float, stop: float, ?step: float, ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_arange (start, stop, defaultArg step 1.0, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member arange(stop: float, ?dtype: Dtype, ?device: Device) = torch.arange (0.0, stop, 1.0, ?dtype = dtype, ?device = device)
    static member linspace(start: float, stop: float, steps: int, ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_linspace (start, stop, int64 steps, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member eye(n: int, ?m: int, ?dtype: Dtype, ?device: Device) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_eye (int64 n, int64 (defaultArg m n), (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))

    // ---- random (an optional Generator; otherwise the default one, seeded by manual_seed) ----
    static member randn(shape: int64[], ?dtype: Dtype, ?device: Device, ?generator: Generator) =
        let d = defaultArg device Cpu
        Tensor.New(fun o ->
            ts_randn (shape, shape.Length, Generator.handleOf generator, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    static member rand(shape: int64[], ?dtype: Dtype, ?device: Device, ?generator: Generator) =
        let d = defaultArg device Cpu
        Tensor.New(fun o ->
            ts_rand (shape, shape.Length, Generator.handleOf generator, (defaultArg dtype Float32).Code, d.TypeCode, d.Index, o))
    /// Integers uniform in [low, high).
    static member randint(low: int64, high: int64, shape: int64[], ?dtype: Dtype, ?device: Device, ?generator: Generator) =
        let d = defaultArg device Cpu
        Tensor.New(fun o ->
            ts_randint (low, high, shape, shape.Length, Generator.handleOf generator, (defaultArg dtype Dtype.Int64).Code, d.TypeCode, d.Index, o))
    static member randperm(n: int64, ?dtype: Dtype, ?device: Device, ?generator: Generator) =
        let d = defaultArg device Cpu
        Tensor.New(fun o -> ts_randperm (n, Generator.handleOf generator, (defaultArg dtype Dtype.Int64).Code, d.TypeCode, d.Index, o))
    /// 0/1 draws with the given probabilities (same shape and dtype).
    static member bernoulli(probs: Tensor, ?generator: Generator) =
        probs.Op1(fun (p, o) -> ts_bernoulli (p, Generator.handleOf generator, o))
    static member normal(mean: float, std: float, shape: int64[], ?dtype: Dtype, ?device: Device, ?generator: Generator) =
        (torch.empty (shape, ?dtype = dtype, ?device = device)).normal_ (mean, std, ?generator = generator)

    // ---- joins and splits ----
    static member private Join(tensors: Tensor seq, f: nativeint[] * nativeptr<nativeint> -> int) =
        let ts = Array.ofSeq tensors
        if ts.Length = 0 then invalidArg "tensors" "expected at least one tensor"
        let r = Tensor.New(fun o -> f (ts |> Array.map (fun t -> t.Handle), o))
        GC.KeepAlive ts
        r
    static member cat(tensors: Tensor seq, ?dim: int) =
        torch.Join(tensors, fun (hs, o) -> ts_cat (hs, hs.Length, int64 (defaultArg dim 0), o))
    static member stack(tensors: Tensor seq, ?dim: int) =
        torch.Join(tensors, fun (hs, o) -> ts_stack (hs, hs.Length, int64 (defaultArg dim 0), o))
    /// Pieces of the given sizes along dim (they must add up to its size).
    static member split(t: Tensor, sizes: int64[], ?dim: int) =
        let outs = Array.zeroCreate<nativeint> sizes.Length
        check (ts_split_with_sizes (t.Handle, sizes, sizes.Length, int64 (defaultArg dim 0), outs))
        GC.KeepAlive t
        outs |> Array.map Tensor.Wrap
    /// Pieces of splitSize along dim (the last may be smaller).
    static member split(t: Tensor, splitSize: int64, ?dim: int) =
        let dim = defaultArg dim 0
        let n = t.size dim
        if splitSize <= 0L then invalidArg "splitSize" $"split size must be positive, got {splitSize}"
        torch.split (t, [| for start in 0L .. splitSize .. n - 1L -> min splitSize (n - start) |], dim)
    /// At most `chunks` pieces of equal size along dim (the last may be smaller).
    static member chunk(t: Tensor, chunks: int, ?dim: int) =
        let dim = defaultArg dim 0
        if chunks <= 0 then invalidArg "chunks" $"chunk count must be positive, got {chunks}"
        torch.split (t, max 1L ((t.size dim + int64 chunks - 1L) / int64 chunks), dim)
    /// Elements of a where cond is true, of b elsewhere (broadcasting).
    static member where(cond: Tensor, a: Tensor, b: Tensor) =
        let r = cond.Op2(a, fun (c, x, o) -> ts_where (c, x, b.Handle, o))
        GC.KeepAlive b
        r
    /// s ** x element-wise (F#'s ** needs the tensor on the left).
    static member pow(s: float, x: Tensor) = x.Op1(fun (a, o) -> ts_pow_scalar_base (s, a, o))
    static member maximum(a: Tensor, b: Tensor) = a.maximum b
    static member minimum(a: Tensor, b: Tensor) = a.minimum b
