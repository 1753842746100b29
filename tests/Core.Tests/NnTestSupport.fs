/// Shared helpers for the nn, optim, data and checkpoint tests.
module Research.Core.Tests.NnTestSupport

open System
open System.IO
open Research.Core
open Research.Core.Data

/// MNIST with the default split, loaded once for every test that reads it.
let mnist = lazy (Mnist.load ())

/// A fresh empty folder under the system temp folder.
let tempFolder (name: string) =
    let dir = Path.Combine(Path.GetTempPath(), $"research-{name}-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    dir

/// Values as a Python literal for a tensor of the given shape and dtype ("float32", "float64", ...).
let pyTensor (values: float[]) (shape: int64[]) (dtype: string) =
    let dims = shape |> Array.map string |> String.concat ", "
    $"torch.tensor({TensorTestSupport.pyList values}, dtype=torch.{dtype}).reshape([{dims}])"
