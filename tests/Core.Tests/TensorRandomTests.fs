/// Seeded random numbers repeat exactly; generator state can be saved and restored.
module Research.Core.Tests.TensorRandomTests

open Xunit
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Fact>]
let ``the same generator seed gives the same numbers`` () =
    use scope = new TensorScope()
    let draw () =
        use g = new Generator(123L)
        (torch.randn ([| 100L |], generator = g)).toFloat32Array ()
    Assert.Equal<float32[]>(draw (), draw ())
    use g = new Generator(124L)
    Assert.NotEqual<float32[]>(draw (), (torch.randn ([| 100L |], generator = g)).toFloat32Array ())
    Assert.Equal(124L, g.seed)

[<Fact>]
let ``saving and restoring the generator state repeats the stream`` () =
    use scope = new TensorScope()
    use g = new Generator(7L)
    torch.rand ([| 10L |], generator = g) |> ignore
    let state = g.state
    let next () =
        [| yield! (torch.randn ([| 5L |], Float64, generator = g)).toFloat64Array ()
           yield! (torch.rand ([| 5L |], Float64, generator = g)).toFloat64Array ()
           yield! (torch.randperm (10L, generator = g)).toFloat64Array ()
           yield! (torch.randint (0L, 100L, [| 5L |], generator = g)).toFloat64Array ()
           yield! (torch.bernoulli (torch.full ([| 5L |], 0.5), generator = g)).toFloat64Array ()
           yield! (torch.zeros([| 5L |]).normal_ (1.0, 2.0, generator = g)).toFloat64Array ()
           yield! (torch.zeros([| 5L |]).uniform_ (-1.0, 1.0, generator = g)).toFloat64Array () |]
    let first = next ()
    g.state <- state
    Assert.Equal<float[]>(first, next ())

/// The default generator is process-wide, so this runs outside the parallel tests.
[<Collection(ProcessWideState)>]
type DefaultGenerator() =
    [<Fact>]
    member _.``manual_seed repeats the default generator and the state restores it`` () =
        use scope = new TensorScope()
        let draw () =
            torch.manual_seed 99L
            (torch.randn [| 20L |]).toFloat32Array ()
        Assert.Equal<float32[]>(draw (), draw ())
        use d = Generator.Default
        Assert.Equal(99L, d.seed)
        let state = d.state
        let first = (torch.rand [| 5L |]).toFloat32Array ()
        d.state <- state
        Assert.Equal<float32[]>(first, (torch.rand [| 5L |]).toFloat32Array ())

[<Fact>]
let ``random draws have the right support and moments`` () =
    use scope = new TensorScope()
    use g = new Generator(5L)
    let perm = (torch.randperm (1000L, generator = g)).toInt64Array ()
    Assert.Equal<int64[]>(Array.init 1000 int64, Array.sort perm)
    let ints = (torch.randint (3L, 7L, [| 10000L |], generator = g)).toInt64Array ()
    Assert.True(ints |> Array.forall (fun v -> v >= 3L && v < 7L))
    Assert.Equal<int64[]>([| 3L; 4L; 5L; 6L |], Array.distinct ints |> Array.sort)
    let u = (torch.rand ([| 100000L |], Float64, generator = g)).toFloat64Array ()
    Assert.True(u |> Array.forall (fun v -> v >= 0.0 && v < 1.0))
    // Mean of 1e5 uniforms: standard error 0.0009.
    Assert.InRange(Array.average u, 0.495, 0.505)
    let n = torch.randn ([| 100000L |], Float64, generator = g)
    Assert.InRange((n.mean ()).item (), -0.01, 0.01)
    Assert.InRange((n.std ()).item (), 0.99, 1.01)
    let coin = torch.bernoulli (torch.full ([| 100000L |], 0.3, Float64), generator = g)
    Assert.InRange((coin.mean ()).item (), 0.295, 0.305)

[<Fact>]
let ``dropout with a generator is repeatable and scales kept units by 1 over 1-p`` () =
    use scope = new TensorScope()
    let x = torch.ones ([| 10000L |], Float64)
    let drop seed =
        use g = new Generator(seed)
        F.dropout (x, 0.25, true, g)
    let d = (drop 3L).toFloat64Array ()
    Assert.Equal<float[]>(d, (drop 3L).toFloat64Array ())
    Assert.True(d |> Array.forall (fun v -> v = 0.0 || abs (v - 1.0 / 0.75) < 1e-15))
    let kept = d |> Array.filter (fun v -> v <> 0.0) |> Array.length
    Assert.InRange(float kept / 10000.0, 0.735, 0.765)
    Assert.Equal<float[]>(x.toFloat64Array (), (F.dropout (x, 0.25, false)).toFloat64Array ())
