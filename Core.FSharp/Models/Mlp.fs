namespace Research.Core.Models

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Data

/// A multilayer perceptron classifier: logits = fc2(relu(fc1(flatten x))).
type Mlp =
    { fc1: Linear
      fc2: Linear }

    /// Class logits [B, classes] for images [B, ...].
    member m.forward(x: Tensor) = x.flatten 1 |> m.fc1.forward |> F.relu |> m.fc2.forward

    member m.parameters = Parameters.compose [ "fc1", m.fc1.parameters; "fc2", m.fc2.parameters ]

    interface IModule with
        member m.parameters = m.parameters

    interface IDisposable with
        member m.Dispose() = m.parameters.Dispose()

    /// inputs -> hidden -> classes, initialised as PyTorch's nn.Linear from the generator.
    static member create(generator: Generator, inputs: int, hidden: int, classes: int) =
        { fc1 = Linear.create (generator, inputs, hidden)
          fc2 = Linear.create (generator, hidden, classes) }

    /// One optimisation step on the mean cross-entropy of a batch; returns that loss. Every tensor
    /// of the step dies with the step's scope.
    member m.trainStep(optimizer: Optimizer, batch: Batch) =
        use _ = new TensorScope()
        optimizer.zero_grad ()
        let loss = F.cross_entropy (m.forward batch.x, batch.y)
        loss.backward ()
        optimizer.step ()
        loss.item ()

    /// One epoch over the subset in shuffled minibatches; onStep (unless null) hears each step's
    /// number and loss. Returns the mean loss.
    member m.trainEpoch
        (
            optimizer: Optimizer,
            data: ImageSubset,
            batchSize: int,
            generator: Generator,
            [<Optional; DefaultParameterValue(null: Action<int, float>)>] onStep: Action<int, float>
        ) =
        let losses =
            data.batches (batchSize, generator)
            |> Seq.mapi (fun i batch ->
                let loss = m.trainStep (optimizer, batch)
                if not (isNull onStep) then onStep.Invoke(i, loss)
                loss)
            |> Seq.toArray
        Array.average losses

    /// The logits for every image of the subset, in order (no graph); the caller disposes them.
    member m.logits(data: ImageSubset) =
        use scope = new TensorScope()
        use _ = torch.no_grad ()
        use all = data.all ()
        scope.MoveToOuter(m.forward all.x)

    /// The fraction of the subset classified correctly.
    member m.accuracy(data: ImageSubset) =
        use _ = new TensorScope()
        use _ = torch.no_grad ()
        use all = data.all ()
        ((m.forward all.x).argmax(1).eq all.y).``to``(Float64).mean().item ()
