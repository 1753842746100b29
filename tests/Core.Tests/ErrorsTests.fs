/// Errors become .NET exceptions carrying a clear message; the process goes on.
module Research.Core.Tests.ErrorsTests

open System
open System.Threading.Tasks
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Tests>]
let tests =
    testList "ErrorsTests" [
        testCase "a libtorch error throws TorchException with libtorch's message and the process goes on" <| fun () ->
            use scope = new TensorScope()
            let a, b = torch.zeros [| 2L; 3L |], torch.zeros [| 4L; 5L |]
            let e = raises<TorchException> (fun () -> a.matmul b |> ignore)
            Expect.stringContains e.Message "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)" "e.Message"
            Expect.isFalse (e.Message.Contains "frame #") "e.Message does not contain \"frame #\""
            // The library still works afterwards.
            Expect.equal ((a.matmul (a.t ())).shape) [| 2L; 2L |] "(a.matmul (a.t ())).shape"
        testCase "more libtorch errors" <| fun () ->
            use scope = new TensorScope()
            let x = torch.zeros [| 3L; 4L |]
            Expect.stringContains ((raises<TorchException> (fun () -> x.[5] |> ignore)).Message) "index 5 out of range" "(raises<TorchException> (fun () -> x.[5] |> ignore)).Message"
            Expect.stringContains ((raises<TorchException> (fun () -> x.view (5L, 3L) |> ignore)).Message) "invalid for input of size 12" "(raises<TorchException> (fun () -> x.view (5L, 3L) |> ignore)).Message"
            Expect.stringContains ((raises<TorchException> (fun () -> (x + torch.zeros [| 5L |]) |> ignore)).Message) "must match the size" "(raises<TorchException> (fun () -> (x + torch.zeros [| 5L |]) |> ignore)).Message"
            Expect.stringContains ((raises<TorchException> (fun () -> x.item () |> ignore)).Message) "a Tensor with 12 elements cannot be converted to Scalar" "(raises<TorchException> (fun () -> x.item () |> ignore)).Message"
            let leaf = torch.zeros [| 2L |]
            Expect.stringContains ((raises<TorchException> (fun () -> leaf.sum().backward ())).Message) "does not require grad" "(raises<TorchException> (fun () -> leaf.sum().backward ())).Message"
        testCase "a failed allocation says so in one line, with the size asked for and the machine's memory" <| fun () ->
            use scope = new TensorScope()
            // 2^50 bytes: more than any x86-64 process can address, so it fails whatever the overcommit policy.
            let e = raises<TorchException> (fun () -> torch.empty [| 1L <<< 48 |] |> ignore)
            Expect.stringStarts e.Message "out of memory: one tensor of 1048576.0 GiB could not be allocated (this machine has " "e.Message"
            Expect.stringEnds e.Message " GiB); choose a smaller model or --batch-size" "e.Message"
            Expect.equal ((torch.ones [| 3L |]).sum().item ()) 3.0 "libtorch works on"
        testCase "errors are per thread" <| fun () ->
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
                Expect.stringContains (messages.[i]) ($"({i + 1}x3 and 7x2)") "messages.[i]"
        testCase "using a disposed tensor throws ObjectDisposedException and disposing twice is harmless" <| fun () ->
            let x = torch.ones [| 2L |]
            x.Dispose()
            x.Dispose()
            Expect.isTrue x.IsDisposed "x.IsDisposed"
            raises<ObjectDisposedException> (fun () -> (x + 1.0) |> ignore) |> ignore
            raises<ObjectDisposedException> (fun () -> x.shape |> ignore) |> ignore
            Expect.equal (x.ToString()) "tensor(<disposed>)" "x.ToString()"
            let y =
                use scope = new TensorScope()
                torch.ones [| 2L |]
            raises<ObjectDisposedException> (fun () -> y.sum () |> ignore) |> ignore
        testCase "bad .NET-side arguments throw ArgumentException before reaching libtorch" <| fun () ->
            use scope = new TensorScope()
            let x = torch.zeros [| 2L; 3L |]
            let arg (f: unit -> 'a) (text: string) = Expect.stringContains ((raisesAny<ArgumentException> (f >> ignore)).Message) text "(raisesAny<ArgumentException> (f >> ignore)).Message"
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
            Expect.stringContains ((raises<TorchException> (fun () -> (use g = new Generator(1L) in g.state <- [| 1uy; 2uy |]))).Message) "GeneratorImplState" "(raises<TorchException> (fun () -> (use g = new Generator(1L) in g.state <- [| 1uy; 2uy |]))).Message"
    ]
