/// Functional differentiation in the spirit of DiffSharp: gradients are values returned by
/// functions, not state left in .grad. Intermediate tensors die with a scope inside each call;
/// only the results reach the caller. Calls nest (grad of grad) because a call made while
/// another is evaluating its function keeps the graph (create_graph) for the outer one.
module Research.Core.Autodiff

open System
open Research.Core.Native

[<AbstractClass; Sealed>]
type private Depth =
    /// How many differentiation calls are evaluating their function on this thread.
    [<ThreadStatic; DefaultValue>]
    static val mutable private depth: int
    static member Current = Depth.depth
    static member Enter() = Depth.depth <- Depth.depth + 1
    static member Exit() = Depth.depth <- Depth.depth - 1

/// torch.autograd.grad: d(outputs)/d(inputs) contracted with gradOutputs (null entries = ones
/// for scalar outputs); null results where an input does not influence the outputs.
let autogradGrad (outputs: Tensor[]) (inputs: Tensor[]) (gradOutputs: Tensor[]) (createGraph: bool) : Tensor[] =
    let results = Array.zeroCreate<nativeint> inputs.Length
    let handles (ts: Tensor[]) = ts |> Array.map (fun t -> if isNull t then 0n else t.Handle)
    let gos = if isNull gradOutputs then null else handles gradOutputs
    check (ts_autograd_grad (handles outputs, outputs.Length, handles inputs, inputs.Length, gos,
                             (if createGraph then 1 else 0), (if createGraph then 1 else 0), 1, results))
    GC.KeepAlive outputs
    GC.KeepAlive inputs
    GC.KeepAlive gradOutputs
    results |> Array.map (fun h -> if h = 0n then null else Tensor.Wrap h)

/// Evaluates y = f(xs) and the vector-Jacobian products v^T dy/dxs (v = 1 for scalar y).
let private evaluateVjp (f: Tensor[] -> Tensor) (xs: Tensor[]) (v: Tensor) : Tensor * Tensor[] =
    let nested = Depth.Current > 0
    use _ = torch.enable_grad ()
    use scope = new TensorScope()
    // Inputs already in a graph are differentiated as they are; constants get a fresh leaf.
    let inputs = xs |> Array.map (fun x -> if x.requires_grad then x else x.detach().requires_grad_ ())
    Depth.Enter()
    let y = try f inputs finally Depth.Exit()
    if isNull v && y.numel <> 1L then
        let shape = y.shape |> Array.map string |> String.concat ", "
        invalidArg "f" $"the function must return a scalar, got shape [{shape}]"
    let gs =
        autogradGrad [| y |] inputs [| v |] nested
        |> Array.mapi (fun i g -> if isNull g then torch.zeros_like inputs.[i] else g)
    let value = if nested then y else y.detach ()
    scope.MoveToOuter value, gs |> Array.map scope.MoveToOuter

/// f(xs) and its gradients with respect to every x (f scalar-valued), e.g. for parameters.
let valueAndGrads (f: Tensor[] -> Tensor) (xs: Tensor[]) : Tensor * Tensor[] = evaluateVjp f xs null

/// Gradients of a scalar-valued f with respect to every x.
let gradN (f: Tensor[] -> Tensor) (xs: Tensor[]) : Tensor[] =
    let value, gs = valueAndGrads f xs
    value.Dispose()
    gs

/// f(x) and its gradient (f scalar-valued).
let valueAndGrad (f: Tensor -> Tensor) (x: Tensor) : Tensor * Tensor =
    let value, gs = valueAndGrads (fun xs -> f xs.[0]) [| x |]
    value, gs.[0]

/// The gradient of a scalar-valued f at x.
let grad (f: Tensor -> Tensor) (x: Tensor) : Tensor = (gradN (fun xs -> f xs.[0]) [| x |]).[0]

/// f(x) and v^T J_f(x) (v has f(x)'s shape).
let vjp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor * Tensor =
    if isNull v then nullArg "v"
    let value, gs = evaluateVjp (fun xs -> f xs.[0]) [| x |] v
    value, gs.[0]

/// f(x) and J_f(x) u (u has x's shape), by the double-vjp trick: J^T v is linear in a dummy
/// cotangent v, so J u = d/dv [(J^T v) . u].
let jvp (f: Tensor -> Tensor) (x: Tensor) (u: Tensor) : Tensor * Tensor =
    if isNull u then nullArg "u"
    let nested = Depth.Current > 0
    use _ = torch.enable_grad ()
    use scope = new TensorScope()
    let input = if x.requires_grad then x else x.detach().requires_grad_ ()
    Depth.Enter()
    let y = try f input finally Depth.Exit()
    let v = torch.zeros_like(y).requires_grad_ ()
    let jtv = (autogradGrad [| y |] [| input |] [| v |] true).[0]
    let ju =
        if isNull jtv then torch.zeros_like y
        else
            let g = (autogradGrad [| (jtv * u).sum () |] [| v |] [| null |] nested).[0]
            if isNull g then torch.zeros_like y else g
    scope.MoveToOuter(if nested then y else y.detach ()), scope.MoveToOuter ju

/// Hessian-vector product H_f(x) v = d/dx [grad f(x) . v] (Pearlmutter 1994).
let hvp (f: Tensor -> Tensor) (x: Tensor) (v: Tensor) : Tensor =
    grad (fun x -> (grad f x * v).sum ()) x

/// The full Hessian of a scalar-valued f, shape [n, n] with n = x.numel (small inputs only).
let hessian (f: Tensor -> Tensor) (x: Tensor) : Tensor =
    use scope = new TensorScope()
    let n = x.numel
    let rows =
        [ for i in 0L .. n - 1L ->
              let e = torch.zeros ([| n |], x.dtype, x.device)
              e.[int i].fill_ 1.0 |> ignore
              (hvp f x (e.view x.shape)).reshape n ]
    scope.MoveToOuter(torch.stack rows)

/// The Jacobian of f at x, shape [m, n] with m = f(x).numel and n = x.numel (small inputs only).
let jacobian (f: Tensor -> Tensor) (x: Tensor) : Tensor =
    use scope = new TensorScope()
    let y = f x
    let m = y.numel
    let rows =
        [ for i in 0L .. m - 1L ->
              let e = torch.zeros ([| m |], y.dtype, y.device)
              e.[int i].fill_ 1.0 |> ignore
              (snd (vjp f x (e.view y.shape))).reshape x.numel ]
    scope.MoveToOuter(torch.stack rows)
