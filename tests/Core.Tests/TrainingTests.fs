/// Short training runs: an MLP on a 2000-image subset of MNIST learns, its checkpoint reloads to
/// identical outputs, and its steps leave no tensor behind.
module Research.Core.Tests.TrainingTests

open System.IO
open Xunit
open Xunit.Abstractions
open Research.Core
open Research.Core.Data
open Research.Core.Models
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Checkpoints
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// MNIST with 2000 images set aside: the training subset of these tests.
let small = lazy (Mnist.load (validationSize = 2000, seed = 1L))

[<Collection(ProcessWideState)>]
type Mlp(output: ITestOutputHelper) =

    [<Fact>]
    member _.``an MLP trained with Adam on 2000 images: the loss falls and it classifies`` () =
        let data = small.Value.validation
        Assert.Equal(2000L, data.count)
        use g = new Generator(0L)
        use model = Research.Core.Models.Mlp.create (g, 784, 64, 10)
        use adam = new Adam(model.parameters, lr = 2e-3)
        let before = Tensor.LiveCount
        // 3 epochs of 16 batches of 125.
        let losses = [| for _ in 1..3 do yield! [| for b in data.batches (125, g) -> model.trainStep (adam, b) |] |]
        Assert.Equal(before, Tensor.LiveCount)
        let first, last = Array.average losses.[..4], Array.average losses.[losses.Length - 5 ..]
        let accuracy = model.accuracy mnist.Value.test
        output.WriteLine $"{losses.Length} steps: loss {first:F3} -> {last:F3}; test accuracy {accuracy:P1}"
        Assert.InRange(first, 2.0, 2.6)
        Assert.True(last < 0.5 * first, $"the loss went from {first} to {last}")
        Assert.True(accuracy > 0.8, $"test accuracy {accuracy}")

    [<Fact>]
    member _.``a checkpoint reloads into a fresh model with identical outputs`` () =
        let folder = tempFolder "mlp"
        let path = Path.Combine(folder, "mlp.safetensors")
        use g = new Generator(1L)
        use model = Research.Core.Models.Mlp.create (g, 784, 32, 10)
        use adam = new Adam(model.parameters)
        for b in small.Value.validation.batches (200, g) do
            model.trainStep (adam, b) |> ignore
        (use state = model.parameters.state_dict () in Safetensors.save (path, state))
        use g2 = new Generator(2L)
        use fresh = Research.Core.Models.Mlp.create (g2, 784, 32, 10)
        (use state = Safetensors.load path in fresh.parameters.load_state_dict state)
        use scope = new TensorScope()
        let a, b = model.logits mnist.Value.test, fresh.logits mnist.Value.test
        Assert.Equal<int64>([| 10000L; 10L |], a.shape)
        Assert.Equal(0.0, (a - b).abs().max().item ())
        Directory.Delete(folder, true)
