namespace Research.Core.Models

open System
open Research.Core
open Research.Core.Nn
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
