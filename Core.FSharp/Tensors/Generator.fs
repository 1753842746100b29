namespace Research.Core

#nowarn "9"
#nowarn "51"

open System
open System.Threading
open Microsoft.FSharp.NativeInterop
open Research.Core.Native

/// A CPU random number generator (at::Generator). Its state can be saved and restored so a
/// run resumes exactly; pass it as ?generator to random ops.
[<Sealed; AllowNullLiteral>]
type Generator private (handle: nativeint) =
    let mutable handle = handle

    /// A fresh generator seeded with seed.
    new(seed: int64) =
        let mutable h = 0n
        check (ts_generator_new (uint64 seed, &&h))
        new Generator(h)

    /// A handle on libtorch's default CPU generator (the one torch.manual_seed seeds).
    static member Default =
        let mutable h = 0n
        check (ts_generator_default &&h)
        new Generator(h)

    member internal g.Handle =
        if handle = 0n then raise (ObjectDisposedException "Generator")
        handle

    /// The seed this generator was last seeded with.
    member g.seed =
        let mutable s = 0UL
        check (ts_generator_seed (g.Handle, &&s))
        int64 s

    /// The full generator state as bytes (PyTorch's get_state/set_state).
    member g.state
        with get (): byte[] =
            let mutable t = 0n
            check (ts_generator_get_state (g.Handle, &&t))
            try
                let mutable n = 0L
                check (ts_numel (t, &&n))
                let bytes = Array.zeroCreate<byte> (int n)
                use p = fixed bytes
                check (ts_copy_out (t, NativePtr.toNativeInt p, n, Dtype.UInt8.Code))
                bytes
            finally
                ts_free t |> ignore
        and set (bytes: byte[]) =
            if isNull bytes || bytes.Length = 0 then invalidArg "state" "generator state must be a non-empty byte array"
            use p = fixed bytes
            let mutable t = 0n
            check (ts_from_blob (NativePtr.toNativeInt p, [| int64 bytes.Length |], 1, Dtype.UInt8.Code, &&t))
            try
                check (ts_generator_set_state (g.Handle, t))
            finally
                ts_free t |> ignore

    member private g.Free() =
        let h = Interlocked.Exchange(&handle, 0n)
        if h <> 0n then ts_generator_free h |> ignore

    override g.Finalize() = g.Free()

    member g.Dispose() =
        g.Free()
        GC.SuppressFinalize g

    interface IDisposable with
        member g.Dispose() = g.Dispose()

module internal Generator =
    /// The native handle of an optional generator (0 = libtorch's default).
    let handleOf (g: Generator option) =
        match g with
        | Some g when not (isNull g) -> g.Handle
        | _ -> 0n
