namespace Research.Core

#nowarn "9"
#nowarn "51"

open System
open System.Threading
open Microsoft.FSharp.NativeInterop
open Research.Core.Native

/// One index of F# slicing syntax: x.[i] or x.[a..b] (inclusive, as F# ranges are).
type internal IndexSpec =
    | At of int64
    | Range of int64 option * int64 option

/// An n-dimensional array on libtorch (one owned at::Tensor*). Dispose it, or let the innermost
/// TensorScope own it; the finalizer is only a safety net. Method names follow PyTorch.
[<Sealed; AllowNullLiteral>]
type Tensor internal (handle: nativeint) =
    inherit ScopedResource()
    static let mutable live = 0L
    let mutable handle = handle
    do Interlocked.Increment(&live) |> ignore

    /// Number of native tensor handles alive in this process.
    static member LiveCount = Interlocked.Read(&live)

    /// Wraps a fresh native handle; the innermost scope (if any) owns it.
    static member internal Wrap(h: nativeint) =
        let t = new Tensor(h)
        TensorScope.Register t
        t

    /// Calls a native op writing one tensor handle and wraps the result.
    static member inline internal New([<InlineIfLambda>] f: nativeptr<nativeint> -> int) =
        Tensor.Wrap(outParam<nativeint> f)

    member internal x.Handle =
        let h = handle
        if h = 0n then raise (ObjectDisposedException("Tensor", "this tensor has been disposed (or its scope has)"))
        h

    member inline internal x.Op1([<InlineIfLambda>] f: nativeint * nativeptr<nativeint> -> int) =
        let r = Tensor.New(fun o -> f (x.Handle, o))
        GC.KeepAlive x
        r

    member inline internal x.Op2(b: Tensor, [<InlineIfLambda>] f: nativeint * nativeint * nativeptr<nativeint> -> int) =
        if isNull b then nullArg "other"
        let r = Tensor.New(fun o -> f (x.Handle, b.Handle, o))
        GC.KeepAlive x
        GC.KeepAlive b
        r

    member inline internal x.InPlace([<InlineIfLambda>] f: nativeint -> int) =
        check (f x.Handle)
        GC.KeepAlive x
        x

    member inline private x.Query([<InlineIfLambda>] f: nativeint * nativeptr<int> -> int) =
        let r = queryInt (fun p -> f (x.Handle, p))
        GC.KeepAlive x
        r

    member private x.Free() =
        let h = Interlocked.Exchange(&handle, 0n)
        if h <> 0n then
            ts_free h |> ignore
            Interlocked.Decrement(&live) |> ignore

    override x.Finalize() = x.Free()

    /// Frees the native tensor now; a second call does nothing.
    override x.Dispose() =
        x.Free()
        GC.SuppressFinalize x

    member x.IsDisposed = handle = 0n

    /// Moves this tensor out of its scope to the enclosing one (or to the caller) and returns it.
    member x.MoveToOuterScope() =
        if isNull x.Owner then x else x.Owner.MoveToOuter x

    // ---- metadata ----

    member x.shape: int64[] =
        let buf = Array.zeroCreate<int64> 8
        let mutable n = 0
        check (ts_sizes (x.Handle, buf, buf.Length, &&n))
        if n <= buf.Length then
            Array.sub buf 0 n
        else
            let all = Array.zeroCreate<int64> n
            check (ts_sizes (x.Handle, all, n, &&n))
            all

    member x.dim = x.Query(fun (h, p) -> ts_sizes (h, null, 0, p))

    /// Size of one dimension (negative counts from the end).
    member x.size(dim: int) =
        let s = x.shape
        let d = if dim < 0 then dim + s.Length else dim
        if d < 0 || d >= s.Length then
            raise (ArgumentOutOfRangeException("dim", $"dimension {dim} out of range for a {s.Length}-d tensor"))
        s.[d]

    member x.numel =
        let mutable n = 0L
        check (ts_numel (x.Handle, &&n))
        n

    member x.dtype = Dtype.OfCode(x.Query(fun (h, p) -> ts_dtype (h, p)))

    member x.device =
        let mutable t = 0
        let mutable i = 0
        check (ts_device (x.Handle, &&t, &&i))
        Device.OfCodes(t, i)

    member x.is_contiguous = x.Query(fun (h, p) -> ts_is_contiguous (h, p)) <> 0

    // ---- data out ----

    /// The value of a one-element tensor.
    member x.item() : float =
        let mutable v = 0.0
        check (ts_item (x.Handle, &&v))
        v

    /// All elements in row-major order, converted to 'T (float32, float, int64, bool or byte).
    member x.toArray<'T when 'T: unmanaged>() : 'T[] =
        let dtype =
            match typeof<'T> with
            | t when t = typeof<float32> -> Float32
            | t when t = typeof<float> -> Float64
            | t when t = typeof<int64> -> Dtype.Int64
            | t when t = typeof<bool> -> Bool
            | t when t = typeof<byte> -> UInt8
            | t -> invalidArg "T" $"toArray supports float32, float, int64, bool and byte, not {t.Name}"
        let arr = Array.zeroCreate<'T> (int x.numel)
        use p = fixed arr
        check (ts_copy_out (x.Handle, NativePtr.toNativeInt p, int64 arr.Length * int64 dtype.ItemSize, dtype.Code))
        arr

    member x.toFloat32Array() = x.toArray<float32> ()
    member x.toFloat64Array() = x.toArray<float> ()
    member x.toInt64Array() = x.toArray<int64> ()

    /// Pointer to the first element, for zero-copy reads of a contiguous CPU tensor (valid while x lives).
    member x.data_ptr =
        let mutable p = 0n
        check (ts_data_ptr (x.Handle, &&p))
        p

    // ---- element-wise arithmetic ----

    /// x + alpha * other (broadcasting).
    member x.add(other: Tensor, ?alpha: float) = x.Op2(other, fun (a, b, o) -> ts_add (a, b, defaultArg alpha 1.0, o))
    member x.add(s: float) = x.Op1(fun (a, o) -> ts_add_scalar (a, s, o))
    /// x - alpha * other (broadcasting).
    member x.sub(other: Tensor, ?alpha: float) = x.Op2(other, fun (a, b, o) -> ts_sub (a, b, defaultArg alpha 1.0, o))
    member x.sub(s: float) = x.Op1(fun (a, o) -> ts_sub_scalar (a, s, o))
    /// s - x.
    member x.rsub(s: float) = x.Op1(fun (a, o) -> ts_rsub_scalar (a, s, o))
    member x.mul(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_mul (a, b, o))
    member x.mul(s: float) = x.Op1(fun (a, o) -> ts_mul_scalar (a, s, o))
    member x.div(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_div (a, b, o))
    member x.div(s: float) = x.Op1(fun (a, o) -> ts_div_scalar (a, s, o))
    member x.pow(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_pow (a, b, o))
    member x.pow(s: float) = x.Op1(fun (a, o) -> ts_pow_scalar (a, s, o))
    member x.fmod(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_fmod (a, b, o))
    member x.fmod(s: float) = x.Op1(fun (a, o) -> ts_fmod_scalar (a, s, o))
    member x.remainder(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_remainder (a, b, o))
    member x.remainder(s: float) = x.Op1(fun (a, o) -> ts_remainder_scalar (a, s, o))
    member x.maximum(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_maximum (a, b, o))
    member x.minimum(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_minimum (a, b, o))
    member x.atan2(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_atan2 (a, b, o))
    /// x * log(other), 0 where x = 0.
    member x.xlogy(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_xlogy (a, b, o))

    static member (+)(a: Tensor, b: Tensor) = a.add b
    static member (+)(a: Tensor, s: float) = a.add s
    static member (+)(s: float, a: Tensor) = a.add s
    static member (-)(a: Tensor, b: Tensor) = a.sub b
    static member (-)(a: Tensor, s: float) = a.sub s
    static member (-)(s: float, a: Tensor) = a.rsub s
    static member (*)(a: Tensor, b: Tensor) = a.mul b
    static member (*)(a: Tensor, s: float) = a.mul s
    static member (*)(s: float, a: Tensor) = a.mul s
    static member (/)(a: Tensor, b: Tensor) = a.div b
    static member (/)(a: Tensor, s: float) = a.div s
    static member (/)(s: float, a: Tensor) =
        use r: Tensor = a.reciprocal ()
        r.mul s
    static member (~-)(a: Tensor) = a.neg ()
    static member Pow(a: Tensor, b: Tensor) = a.pow b
    static member Pow(a: Tensor, s: float) = a.pow s

    // ---- comparisons (Bool tensors) ----
    member x.eq(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_eq (a, b, o))
    member x.eq(s: float) = x.Op1(fun (a, o) -> ts_eq_scalar (a, s, o))
    member x.ne(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_ne (a, b, o))
    member x.ne(s: float) = x.Op1(fun (a, o) -> ts_ne_scalar (a, s, o))
    member x.gt(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_gt (a, b, o))
    member x.gt(s: float) = x.Op1(fun (a, o) -> ts_gt_scalar (a, s, o))
    member x.lt(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_lt (a, b, o))
    member x.lt(s: float) = x.Op1(fun (a, o) -> ts_lt_scalar (a, s, o))
    member x.ge(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_ge (a, b, o))
    member x.ge(s: float) = x.Op1(fun (a, o) -> ts_ge_scalar (a, s, o))
    member x.le(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_le (a, b, o))
    member x.le(s: float) = x.Op1(fun (a, o) -> ts_le_scalar (a, s, o))
    member x.logical_and(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_logical_and (a, b, o))
    member x.logical_or(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_logical_or (a, b, o))
    member x.logical_not() = x.Op1 ts_logical_not
    member x.isnan() = x.Op1 ts_isnan
    member x.isfinite() = x.Op1 ts_isfinite

    /// |x - other| <= atol + rtol * |other| everywhere (PyTorch's defaults rtol 1e-5, atol 1e-8).
    member x.allclose(other: Tensor, ?rtol: float, ?atol: float, ?equal_nan: bool) =
        let r =
            queryInt (fun p ->
                ts_allclose (x.Handle, other.Handle, defaultArg rtol 1e-5, defaultArg atol 1e-8,
                             (if defaultArg equal_nan false then 1 else 0), p))
        GC.KeepAlive other
        r <> 0

    /// Same shape and same values.
    member x.equal(other: Tensor) =
        let r = queryInt (fun p -> ts_equal (x.Handle, other.Handle, p))
        GC.KeepAlive other
        r <> 0

    // ---- element-wise functions ----
    member x.exp() = x.Op1 ts_exp
    member x.log() = x.Op1 ts_log
    member x.log1p() = x.Op1 ts_log1p
    member x.expm1() = x.Op1 ts_expm1
    member x.sqrt() = x.Op1 ts_sqrt
    member x.rsqrt() = x.Op1 ts_rsqrt
    member x.abs() = x.Op1 ts_abs
    member x.neg() = x.Op1 ts_neg
    member x.square() = x.Op1 ts_square
    member x.reciprocal() = x.Op1 ts_reciprocal
    member x.sin() = x.Op1 ts_sin
    member x.cos() = x.Op1 ts_cos
    member x.tan() = x.Op1 ts_tan
    member x.tanh() = x.Op1 ts_tanh
    member x.sigmoid() = x.Op1 ts_sigmoid
    member x.relu() = x.Op1 ts_relu
    /// log(1 + exp(beta x)) / beta, linear above threshold (PyTorch's defaults beta 1, threshold 20).
    member x.softplus(?beta: float, ?threshold: float) =
        x.Op1(fun (a, o) -> ts_softplus (a, defaultArg beta 1.0, defaultArg threshold 20.0, o))
    /// log(sigmoid(x)), computed stably.
    member x.logsigmoid() = x.Op1 ts_log_sigmoid
    member x.gelu() = x.Op1 ts_gelu
    member x.silu() = x.Op1 ts_silu
    member x.erf() = x.Op1 ts_erf
    member x.erfc() = x.Op1 ts_erfc
    member x.lgamma() = x.Op1 ts_lgamma
    member x.digamma() = x.Op1 ts_digamma
    member x.floor() = x.Op1 ts_floor
    member x.ceil() = x.Op1 ts_ceil
    member x.round() = x.Op1 ts_round
    member x.trunc() = x.Op1 ts_trunc
    member x.sign() = x.Op1 ts_sign
    member x.clamp(?min: float, ?max: float) =
        if min.IsNone && max.IsNone then invalidArg "min" "clamp needs min or max"
        x.Op1(fun (a, o) ->
            ts_clamp (a, defaultArg min 0.0, defaultArg max 0.0, (if min.IsSome then 1 else 0), (if max.IsSome then 1 else 0), o))
    member x.softmax(dim: int) = x.Op1(fun (a, o) -> ts_softmax (a, int64 dim, o))
    member x.log_softmax(dim: int) = x.Op1(fun (a, o) -> ts_log_softmax (a, int64 dim, o))
    member x.cumsum(dim: int) = x.Op1(fun (a, o) -> ts_cumsum (a, int64 dim, o))
    member x.tril(?diagonal: int) = x.Op1(fun (a, o) -> ts_tril (a, int64 (defaultArg diagonal 0), o))
    member x.triu(?diagonal: int) = x.Op1(fun (a, o) -> ts_triu (a, int64 (defaultArg diagonal 0), o))
    member x.masked_fill(mask: Tensor, value: float) = x.Op2(mask, fun (a, m, o) -> ts_masked_fill (a, m, value, o))

    // ---- linear algebra ----
    member x.matmul(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_matmul (a, b, o))
    member x.mm(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_mm (a, b, o))
    member x.bmm(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_bmm (a, b, o))
    member x.outer(other: Tensor) = x.Op2(other, fun (a, b, o) -> ts_outer (a, b, o))
    /// Transpose of a tensor with at most 2 dimensions.
    member x.t() = x.Op1 ts_t

    // ---- reductions (no dims = every dimension) ----
    member inline private x.Reduce(dims: int[], keepdim: bool option, [<InlineIfLambda>] f) =
        let ds = Array.map int64 dims
        x.Op1(fun (a, o) -> f (a, ds, ds.Length, (if defaultArg keepdim false then 1 else 0), o))
    member x.sum(dims: int[], ?keepdim: bool) = x.Reduce(dims, keepdim, ts_sum)
    member x.sum(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_sum)
    member x.mean(dims: int[], ?keepdim: bool) = x.Reduce(dims, keepdim, ts_mean)
    member x.mean(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_mean)
    /// Largest value (over dims); gradient shared evenly between ties (amax).
    member x.max(dims: int[], ?keepdim: bool) = x.Reduce(dims, keepdim, ts_amax)
    member x.max(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_amax)
    member x.min(dims: int[], ?keepdim: bool) = x.Reduce(dims, keepdim, ts_amin)
    member x.min(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_amin)
    /// log(sum(exp(x))) computed stably.
    member x.logsumexp(dims: int[], ?keepdim: bool) = x.Reduce(dims, keepdim, ts_logsumexp)
    member x.logsumexp(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_logsumexp)
    member x.nansum(?dim: int, ?keepdim: bool) = x.Reduce(Option.toArray dim, keepdim, ts_nansum)
    /// Standard deviation; unbiased (n-1) by default as in PyTorch.
    member x.std(dims: int[], ?unbiased: bool, ?keepdim: bool) =
        let ds = Array.map int64 dims
        x.Op1(fun (a, o) ->
            ts_std (a, ds, ds.Length, (if defaultArg unbiased true then 1 else 0), (if defaultArg keepdim false then 1 else 0), o))
    member x.std(?dim: int, ?unbiased: bool, ?keepdim: bool) = x.std (Option.toArray dim, ?unbiased = unbiased, ?keepdim = keepdim)
    member x.var(dims: int[], ?unbiased: bool, ?keepdim: bool) =
        let ds = Array.map int64 dims
        x.Op1(fun (a, o) ->
            ts_var (a, ds, ds.Length, (if defaultArg unbiased true then 1 else 0), (if defaultArg keepdim false then 1 else 0), o))
    member x.var(?dim: int, ?unbiased: bool, ?keepdim: bool) = x.var (Option.toArray dim, ?unbiased = unbiased, ?keepdim = keepdim)
    member x.prod(?dim: int, ?keepdim: bool) =
        x.Op1(fun (a, o) ->
            ts_prod (a, int64 (defaultArg dim 0), (if dim.IsSome then 1 else 0), (if defaultArg keepdim false then 1 else 0), o))
    member x.argmax(?dim: int, ?keepdim: bool) =
        x.Op1(fun (a, o) ->
            ts_argmax (a, int64 (defaultArg dim 0), (if dim.IsSome then 1 else 0), (if defaultArg keepdim false then 1 else 0), o))
    /// The k largest values along `dim` (smallest with largest = false), sorted; torch.topk's values.
    member x.topk(k: int, ?dim: int, ?largest: bool) =
        x.Op1(fun (a, o) -> ts_topk (a, int64 k, int64 (defaultArg dim -1), (if defaultArg largest true then 1 else 0), o))
    member x.argmin(?dim: int, ?keepdim: bool) =
        x.Op1(fun (a, o) ->
            ts_argmin (a, int64 (defaultArg dim 0), (if dim.IsSome then 1 else 0), (if defaultArg keepdim false then 1 else 0), o))

    // ---- shapes ----
    member x.view([<ParamArray>] shape: int64[]) = x.Op1(fun (a, o) -> ts_view (a, shape, shape.Length, o))
    member x.reshape([<ParamArray>] shape: int64[]) = x.Op1(fun (a, o) -> ts_reshape (a, shape, shape.Length, o))
    member x.expand([<ParamArray>] shape: int64[]) = x.Op1(fun (a, o) -> ts_expand (a, shape, shape.Length, o))
    member x.expand_as(other: Tensor) = x.expand other.shape
    member x.repeat([<ParamArray>] repeats: int64[]) = x.Op1(fun (a, o) -> ts_repeat (a, repeats, repeats.Length, o))
    member x.permute([<ParamArray>] dims: int[]) =
        let ds = Array.map int64 dims
        x.Op1(fun (a, o) -> ts_permute (a, ds, ds.Length, o))
    member x.flip([<ParamArray>] dims: int[]) =
        let ds = Array.map int64 dims
        x.Op1(fun (a, o) -> ts_flip (a, ds, ds.Length, o))
    member x.transpose(dim0: int, dim1: int) = x.Op1(fun (a, o) -> ts_transpose (a, int64 dim0, int64 dim1, o))
    member x.unsqueeze(dim: int) = x.Op1(fun (a, o) -> ts_unsqueeze (a, int64 dim, o))
    member x.squeeze(?dim: int) =
        match dim with
        | Some d -> x.Op1(fun (a, o) -> ts_squeeze_dim (a, int64 d, o))
        | None -> x.Op1 ts_squeeze
    member x.flatten(?startDim: int, ?endDim: int) =
        x.Op1(fun (a, o) -> ts_flatten (a, int64 (defaultArg startDim 0), int64 (defaultArg endDim -1), o))
    member x.contiguous() = x.Op1 ts_contiguous
    /// The same values with the channels innermost in memory (NHWC; 4-d tensors): convolutions then
    /// run on oneDNN without converting layouts, and so do the layers after them.
    member x.channelsLast() = x.Op1 ts_channels_last
    member x.clone() = x.Op1 ts_clone
    /// The same values cut off from the autograd graph (shares storage).
    member x.detach() = x.Op1 ts_detach

    // ---- indexing ----
    member x.narrow(dim: int, start: int64, length: int64) = x.Op1(fun (a, o) -> ts_narrow (a, int64 dim, start, length, o))
    /// Elements start, start+step, ... below stop (exclusive, as PyTorch's x[start:stop:step]).
    member x.slice(dim: int, start: int64, stop: int64, ?step: int64) =
        x.Op1(fun (a, o) -> ts_slice (a, int64 dim, start, stop, defaultArg step 1L, o))
    member x.select(dim: int, index: int64) = x.Op1(fun (a, o) -> ts_select (a, int64 dim, index, o))
    member x.index_select(dim: int, index: Tensor) = x.Op2(index, fun (a, i, o) -> ts_index_select (a, int64 dim, i, o))
    member x.gather(dim: int, index: Tensor) = x.Op2(index, fun (a, i, o) -> ts_gather (a, int64 dim, i, o))
    member x.scatter_add(dim: int, index: Tensor, src: Tensor) =
        let r = x.Op2(index, fun (a, i, o) -> ts_scatter_add (a, int64 dim, i, src.Handle, o))
        GC.KeepAlive src
        r

    /// F# indexing: integers select (dropping the dimension), ranges keep it with an inclusive
    /// end as F# ranges do; negative positions count from the end.
    member internal x.Index(specs: IndexSpec list) =
        if specs.Length > x.dim then
            invalidArg "index" $"{specs.Length} indices for a {x.dim}-d tensor"
        // From the last dimension down, so earlier dimension numbers do not shift.
        let apply (t: Tensor) (d, spec) =
            match spec with
            | At i -> t.select (d, i)
            | Range (s, e) ->
                let n = t.size d
                let wrap i = if i < 0L then i + n else i
                t.slice (d, (match s with Some s -> wrap s | None -> 0L), (match e with Some e -> wrap e + 1L | None -> n))
        specs
        |> List.indexed
        |> List.rev
        |> List.fold (fun (t: Tensor) ds -> let r = apply t ds in (if not (obj.ReferenceEquals(t, x)) then t.Dispose()); r) x

    member x.Item
        with get (i: int) = x.select (0, int64 i)
        and set (i: int) (v: Tensor) = (use s = x.select (0, int64 i) in s.copy_ v) |> ignore
    member x.Item
        with get (i: int, j: int) = x.Index [ At(int64 i); At(int64 j) ]
        and set (i: int, j: int) (v: Tensor) = (use s = x.Index [ At(int64 i); At(int64 j) ] in s.copy_ v) |> ignore
    member x.Item
        with get (i: int, j: int, k: int) = x.Index [ At(int64 i); At(int64 j); At(int64 k) ]
    member x.GetSlice(s0: int option, e0: int option) = x.Index [ Range(Option.map int64 s0, Option.map int64 e0) ]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option) =
        x.Index [ Range(Option.map int64 s0, Option.map int64 e0); Range(Option.map int64 s1, Option.map int64 e1) ]
    member x.GetSlice(i0: int, s1: int option, e1: int option) =
        x.Index [ At(int64 i0); Range(Option.map int64 s1, Option.map int64 e1) ]
    member x.GetSlice(s0: int option, e0: int option, i1: int) =
        x.Index [ Range(Option.map int64 s0, Option.map int64 e0); At(int64 i1) ]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option, s2: int option, e2: int option) =
        x.Index
            [ Range(Option.map int64 s0, Option.map int64 e0)
              Range(Option.map int64 s1, Option.map int64 e1)
              Range(Option.map int64 s2, Option.map int64 e2) ]
    member x.GetSlice(i0: int, s1: int option, e1: int option, s2: int option, e2: int option) =
        x.Index [ At(int64 i0); Range(Option.map int64 s1, Option.map int64 e1); Range(Option.map int64 s2, Option.map int64 e2) ]
    member x.GetSlice(s0: int option, e0: int option, i1: int, s2: int option, e2: int option) =
        x.Index [ Range(Option.map int64 s0, Option.map int64 e0); At(int64 i1); Range(Option.map int64 s2, Option.map int64 e2) ]
    member x.GetSlice(s0: int option, e0: int option, s1: int option, e1: int option, i2: int) =
        x.Index [ Range(Option.map int64 s0, Option.map int64 e0); Range(Option.map int64 s1, Option.map int64 e1); At(int64 i2) ]

    // ---- conversions ----
    member x.``to``(dtype: Dtype) = x.Op1(fun (a, o) -> ts_to_dtype (a, dtype.Code, o))
    member x.``to``(device: Device) = x.Op1(fun (a, o) -> ts_to_device (a, device.TypeCode, device.Index, o))
    member x.float() = x.``to`` Float32
    member x.double() = x.``to`` Float64
    member x.long() = x.``to`` Dtype.Int64
    member x.cpu() = x.``to`` Cpu

    // ---- in place (each returns x itself) ----
    member x.add_(other: Tensor, ?alpha: float) =
        let r = x.InPlace(fun a -> ts_add_ (a, other.Handle, defaultArg alpha 1.0))
        GC.KeepAlive other
        r
    member x.add_(s: float) = x.InPlace(fun a -> ts_add_scalar_ (a, s))
    member x.sub_(other: Tensor, ?alpha: float) =
        let r = x.InPlace(fun a -> ts_sub_ (a, other.Handle, defaultArg alpha 1.0))
        GC.KeepAlive other
        r
    member x.sub_(s: float) = x.InPlace(fun a -> ts_sub_scalar_ (a, s))
    member x.mul_(other: Tensor) =
        let r = x.InPlace(fun a -> ts_mul_ (a, other.Handle))
        GC.KeepAlive other
        r
    member x.mul_(s: float) = x.InPlace(fun a -> ts_mul_scalar_ (a, s))
    member x.div_(other: Tensor) =
        let r = x.InPlace(fun a -> ts_div_ (a, other.Handle))
        GC.KeepAlive other
        r
    member x.div_(s: float) = x.InPlace(fun a -> ts_div_scalar_ (a, s))
    member x.pow_(s: float) = x.InPlace(fun a -> ts_pow_scalar_ (a, s))
    member x.copy_(src: Tensor) =
        let r = x.InPlace(fun a -> ts_copy_ (a, src.Handle))
        GC.KeepAlive src
        r
    member x.fill_(value: float) = x.InPlace(fun a -> ts_fill_scalar_ (a, value))
    member x.zero_() = x.InPlace ts_zero_
    member x.relu_() = x.InPlace ts_relu_
    member x.clamp_(?min: float, ?max: float) =
        if min.IsNone && max.IsNone then invalidArg "min" "clamp_ needs min or max"
        x.InPlace(fun a ->
            ts_clamp_ (a, defaultArg min 0.0, defaultArg max 0.0, (if min.IsSome then 1 else 0), (if max.IsSome then 1 else 0)))
    member x.normal_(?mean: float, ?std: float, ?generator: Generator) =
        x.InPlace(fun a -> ts_normal_ (a, defaultArg mean 0.0, defaultArg std 1.0, Generator.handleOf generator))
    member x.uniform_(?from: float, ?``to``: float, ?generator: Generator) =
        x.InPlace(fun a -> ts_uniform_ (a, defaultArg from 0.0, defaultArg ``to`` 1.0, Generator.handleOf generator))
    member x.bernoulli_(p: float, ?generator: Generator) =
        x.InPlace(fun a -> ts_bernoulli_ (a, p, Generator.handleOf generator))
    /// Cuts x off from the graph in place (makes it a leaf).
    member x.detach_() = x.InPlace ts_detach_

    // ---- autograd ----
    member x.requires_grad
        with get () = x.Query(fun (h, p) -> ts_requires_grad (h, p)) <> 0
        and set (b: bool) = x.InPlace(fun a -> ts_requires_grad_ (a, (if b then 1 else 0))) |> ignore
    /// Sets requires_grad (default true) and returns x, for x = torch.randn(...).requires_grad_().
    member x.requires_grad_(?requiresGrad: bool) =
        x.InPlace(fun a -> ts_requires_grad_ (a, (if defaultArg requiresGrad true then 1 else 0)))
    member x.is_leaf = x.Query(fun (h, p) -> ts_is_leaf (h, p)) <> 0
    /// The accumulated gradient, or null (PyTorch's None). Setting null clears it.
    member x.grad
        with get (): Tensor =
            let mutable r = 0n
            check (ts_grad (x.Handle, &&r))
            if r = 0n then null else Tensor.Wrap r
        and set (g: Tensor) =
            if not (isNull g) && g.shape <> x.shape then
                invalidArg "grad" "the gradient must have the tensor's shape"
            check (ts_set_grad (x.Handle, (if isNull g then 0n else g.Handle)))
            GC.KeepAlive g
    /// Keeps the gradient of a non-leaf tensor after backward.
    member x.retain_grad() = x.InPlace ts_retain_grad |> ignore
    /// Accumulates d(x)/d(leaves) into the leaves' grad. x must be a scalar unless gradient is
    /// given. retain_graph defaults to create_graph, as in PyTorch.
    member x.backward(?gradient: Tensor, ?retain_graph: bool, ?create_graph: bool) =
        let create = defaultArg create_graph false
        let g = match gradient with Some g when not (isNull g) -> g.Handle | _ -> 0n
        check (ts_backward (x.Handle, g, (if defaultArg retain_graph create then 1 else 0), (if create then 1 else 0)))
        GC.KeepAlive x
        Option.iter GC.KeepAlive gradient

    override x.ToString() = TensorFormat.format x

/// PyTorch-like printing: tensor([[1.0000, 2.0000], ...]) for tensors of up to 1000 elements.
and internal TensorFormat private () =
    static member format(x: Tensor) : string =
        if x.IsDisposed then
            "tensor(<disposed>)"
        else
            let shape = x.shape
            let dtype = x.dtype
            let suffix =
                [ if dtype <> Float32 && dtype <> Dtype.Int64 && dtype <> Bool then $"dtype=torch.{dtype}"
                  if x.device <> Cpu then $"device='{x.device}'"
                  if x.requires_grad then "requires_grad=True" ]
            let tail = suffix |> List.map (fun s -> ", " + s) |> String.concat ""
            if x.numel > 1000L then
                let dims = shape |> Array.map string |> String.concat ", "
                $"tensor(<{x.numel} elements of shape [{dims}]>{tail})"
            else
                let values = x.toFloat64Array ()
                let text: float -> string =
                    match dtype with
                    | Bool -> fun v -> if v <> 0.0 then "True" else "False"
                    | Dtype.Int64 | UInt8 -> fun v -> string (int64 v)
                    | _ ->
                        let finite = values |> Array.filter (fun v -> Double.IsFinite v && v <> 0.0) |> Array.map abs
                        // PyTorch's rule (torch/_tensor_str.py): scientific when the nonzero finite
                        // magnitudes span more than 1000x, exceed 1e8 or go below 1e-4.
                        let scientific =
                            finite.Length > 0
                            && (Array.max finite / Array.min finite > 1000.0 || Array.max finite > 1e8 || Array.min finite < 1e-4)
                        let integral = values |> Array.forall (fun v -> not (Double.IsFinite v) || v = Math.Round v)
                        if scientific then fun v -> v.ToString("0.0000e+00", Globalization.CultureInfo.InvariantCulture)
                        elif integral then fun v -> v.ToString("F0", Globalization.CultureInfo.InvariantCulture) + "."
                        else fun v -> v.ToString("F4", Globalization.CultureInfo.InvariantCulture)
                let cell v =
                    if Double.IsNaN v then "nan"
                    elif Double.IsPositiveInfinity v then "inf"
                    elif Double.IsNegativeInfinity v then "-inf"
                    else text v
                let cells = Array.map cell values
                let width = if cells.Length = 0 then 0 else cells |> Array.map String.length |> Array.max
                let strides = Array.init shape.Length (fun d -> Array.fold (*) 1L shape.[d + 1 ..])
                let rec render d offset =
                    if d = shape.Length then
                        cells.[int offset].PadLeft width
                    else
                        let sep = if d = shape.Length - 1 then ", " else "," + String.replicate (shape.Length - d - 1) "\n" + String.replicate (8 + d) " "
                        let items = [ for i in 0L .. shape.[d] - 1L -> render (d + 1) (offset + i * strides.[d]) ]
                        "[" + String.concat sep items + "]"
                "tensor(" + render 0 0L + tail + ")"
