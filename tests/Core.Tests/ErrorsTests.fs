/// Errors become .NET exceptions carrying a clear message; the process goes on.
module Research.Core.Tests.ErrorsTests

open System
open System.Threading.Tasks
open Xunit
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Fact>]
let ``a libtorch error throws TorchException with libtorch's message and the process goes on`` () =
    use scope = new TensorScope()
    let a, b = torch.zeros [| 2L; 3L |], torch.zeros [| 4L; 5L |]
    let e = Assert.Throws<TorchException>(fun () -> a.matmul b |> ignore)
    Assert.Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", e.Message)
    Assert.DoesNotContain("frame #", e.Message)
    // The library still works afterwards.
    Assert.Equal<int64[]>([| 2L; 2L |], (a.matmul (a.t ())).shape)

[<Fact>]
let ``more libtorch errors`` () =
    use scope = new TensorScope()
    let x = torch.zeros [| 3L; 4L |]
    Assert.Contains("index 5 out of range", (Assert.Throws<TorchException>(fun () -> x.[5] |> ignore)).Message)
    Assert.Contains("invalid for input of size 12", (Assert.Throws<TorchException>(fun () -> x.view (5L, 3L) |> ignore)).Message)
    Assert.Contains("must match the size", (Assert.Throws<TorchException>(fun () -> (x + torch.zeros [| 5L |]) |> ignore)).Message)
    Assert.Contains("a Tensor with 12 elements cannot be converted to Scalar", (Assert.Throws<TorchException>(fun () -> x.item () |> ignore)).Message)
    let leaf = torch.zeros [| 2L |]
    Assert.Contains("does not require grad", (Assert.Throws<TorchException>(fun () -> leaf.sum().backward ())).Message)

[<Fact>]
let ``errors are per thread`` () =
    let messages =
        Array.init 4 (fun i ->
            Task.Run(fun () ->
                use scope = new TensorScope()
                let a = torch.zeros [| int64 (i + 1); 3L |]
                try
                    a.matmul (torch.zeros [| 7L; 2L |]) |> ignore
                    ""
                with :? TorchException as e -> e.Message))
        |> Array.map (fun t -> t.Result)
    for i in 0..3 do
        Assert.Contains($"({i + 1}x3 and 7x2)", messages.[i])

[<Fact>]
let ``using a disposed tensor throws ObjectDisposedException and disposing twice is harmless`` () =
    let x = torch.ones [| 2L |]
    x.Dispose()
    x.Dispose()
    Assert.True x.IsDisposed
    Assert.Throws<ObjectDisposedException>(fun () -> (x + 1.0) |> ignore) |> ignore
    Assert.Throws<ObjectDisposedException>(fun () -> x.shape |> ignore) |> ignore
    Assert.Equal("tensor(<disposed>)", x.ToString())
    let y =
        use scope = new TensorScope()
        torch.ones [| 2L |]
    Assert.Throws<ObjectDisposedException>(fun () -> y.sum () |> ignore) |> ignore

[<Fact>]
let ``bad .NET-side arguments throw ArgumentException before reaching libtorch`` () =
    use scope = new TensorScope()
    let x = torch.zeros [| 2L; 3L |]
    let arg (f: unit -> 'a) (text: string) = Assert.Contains(text, (Assert.ThrowsAny<ArgumentException>(f >> ignore)).Message)
    arg (fun () -> torch.tensor ([| 1.0; 2.0; 3.0 |], [| 2L; 2L |])) "holds 4 elements but the data has 3"
    arg (fun () -> F.mse_loss (x, x, reduction = "avg")) "reduction must be 'none', 'mean' or 'sum'"
    arg (fun () -> x.clamp ()) "clamp needs min or max"
    arg (fun () -> x.size 2) "dimension 2 out of range"
    arg (fun () -> torch.cat []) "at least one tensor"
    arg (fun () -> torch.split (x, 0L)) "split size must be positive"
    arg (fun () -> torch.set_num_threads 0) "thread count must be positive"
    arg (fun () -> F.pad (x, [| 1 |])) "pairs"
    arg (fun () -> x.toArray<int> ()) "toArray supports"
    arg (fun () -> x.[0, 0, 0]) "3 indices for a 2-d tensor"
    arg (fun () -> x.grad <- torch.zeros [| 3L |]) "the gradient must have the tensor's shape"
    arg (fun () -> (use g = new Generator(1L) in g.state <- [||])) "non-empty"
    // A state of the wrong size is libtorch's to reject.
    Assert.Contains("GeneratorImplState", (Assert.Throws<TorchException>(fun () -> (use g = new Generator(1L) in g.state <- [| 1uy; 2uy |]))).Message)
