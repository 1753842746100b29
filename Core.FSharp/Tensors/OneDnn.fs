namespace Research.Core

open System
open System.IO
open System.Runtime.InteropServices
open Research.Core.Native

/// One kind of primitive execution in oneDNN's verbose log: what ran ("convolution", "reorder"),
/// the implementation oneDNN chose for it ("jit:avx512_core"; "ref:any" is a reference kernel,
/// correct but tens of times slower), the propagation kind and the problem's shape.
type OneDnnPrimitive =
    { Kind: string
      Implementation: string
      Propagation: string
      Problem: string }

    member p.IsReference = p.Implementation.StartsWith "ref"
    override p.ToString() = $"{p.Kind} {p.Propagation} {p.Problem} ({p.Implementation})"

/// oneDNN, the library libtorch and the fused operations run their convolutions on: the instruction
/// set it dispatches to on this CPU, and what it runs.
module OneDnn =
    /// The instruction set oneDNN's kernels use on this CPU, e.g. "avx2" or "avx512_core_bf16".
    let isa () = Marshal.PtrToStringUTF8(outParam<nativeint> (fun p -> ts_onednn_isa p))

    /// The CPU's model name (Linux's /proc/cpuinfo), or "unknown CPU".
    let cpuModel () =
        try
            File.ReadLines "/proc/cpuinfo"
            |> Seq.tryFind (fun l -> l.StartsWith "model name")
            |> Option.map (fun l -> l.Substring(l.IndexOf ':' + 1).Trim())
            |> Option.defaultValue "unknown CPU"
        with :? IOException | :? UnauthorizedAccessException -> "unknown CPU"

    /// The primitive kinds of oneDNN verbose lines, distinct, in the order they first ran.
    let parse (text: string) =
        [ for line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries) do
              let f = line.Split ','
              // onednn_verbose,exec,cpu,<kind>,<implementation>,<propagation>,<memory>,<attributes>,<algorithm>,<problem>,<ms>
              if f.Length >= 11 && f[1] = "exec" then
                  yield { Kind = f[3]; Implementation = f[4]; Propagation = f[5]; Problem = f[f.Length - 2] } ]
        |> List.distinct

    /// f's result and the primitives oneDNN executed while it ran (in this process, on any thread).
    /// Stdout is diverted while f runs: what else is written there appears when f returns.
    let trace (f: unit -> 'T) : 'T * OneDnnPrimitive list =
        // .NET binds Console.Out to a duplicate of stdout when first used: bound during the trace,
        // it would write into the trace's file for good.
        Console.Out.Flush()
        check (ts_onednn_trace_begin ())
        let mutable text = ""
        let result =
            try f ()
            finally
                Console.Out.Flush()
                text <- Marshal.PtrToStringUTF8(outParam<nativeint> (fun p -> ts_onednn_trace_end p))
        result, parse text
