/// The versioned feature network: the LeNet weights committed beside this file
/// (lenet-mnist.safetensors, copied next to Research.Core.dll), checked against their SHA-256 before
/// use, so every user and every run computes the same features. `lenet train` remakes them; a new
/// file gets a new digest here, and its scores are not comparable with the old ones.
module Research.Core.Metrics.FeatureNet

open System
open System.IO
open System.Security.Cryptography
open Research.Core
open Research.Core.Data
open Research.Core.Training
open Research.Core.Metrics
open Research.Core.Metrics.LeNet

let fileName = "lenet-mnist.safetensors"

/// SHA-256 of the committed weights (`lenet train --threads 1`: seed 1, 10 epochs, the best of them
/// by validation accuracy; test accuracy 99.08%).
let sha256 = "472e1cfcfd66e9de826b6b0229eb1a55f3b60f253b5f87099d220d761cffa760"

let defaultPath () = Path.Combine(Path.GetDirectoryName(typeof<LeNet>.Assembly.Location), fileName)

let digest (path: string) =
    use stream = File.OpenRead path
    Convert.ToHexString(SHA256.HashData stream).ToLowerInvariant()

/// A LeNet from any checkpoint of a `lenet train` run; the caller disposes it.
let private loadFrom (path: string) =
    use generator = new Generator(0L)
    let model = LeNet.create generator
    try
        Checkpoint.loadModel (path, model.parameters, ignore) |> ignore
        model
    with _ ->
        model.parameters.Dispose()
        reraise ()

/// The feature network from `path` (default: the versioned file), refused unless its digest is the
/// recorded one; the caller disposes it.
let load (path: string option) =
    let path = defaultArg path (defaultPath ())
    if not (File.Exists path) then raise (FileNotFoundException($"{path}: the feature network's weights are missing", path))
    let found = digest path
    if found <> sha256 then
        raise (InvalidDataException $"{path}: SHA-256 {found}, but the versioned feature network is {sha256}; scores from other weights are not comparable")
    loadFrom path

/// The fraction of the 10,000 MNIST test digits a LeNet checkpoint classifies correctly.
let testAccuracy (path: string) (dataFolder: string) =
    use model = loadFrom path
    use mnist = Mnist.load (?folder = (if String.IsNullOrEmpty dataFolder then None else Some(Path.Combine(dataFolder, "mnist"))))
    snd (Classifier.evaluate model.forward mnist.test)

/// What the metrics need of a set of images: the penultimate features [N; 128] and the class
/// probabilities p(y | x) [N; 10], both in float64.
type Features =
    { Features: Tensor
      Probabilities: Tensor }

    interface IDisposable with
        member f.Dispose() =
            f.Features.Dispose()
            f.Probabilities.Dispose()

/// Features of images [N; 1; 28; 28] in [0, 1], computed 250 at a time.
let features (model: LeNet) (images: Tensor) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let n = images.size 0
    let parts =
        [ for start in 0L .. 250L .. n - 1L ->
              // A scope per chunk: its activations (about 50 MB) are freed before the next chunk's
              // are made, so the allocator reuses their pages instead of faulting in fresh ones.
              use chunk = new TensorScope()
              let h = model.features (images.narrow (0, start, min 250L (n - start)))
              chunk.MoveToOuter h, chunk.MoveToOuter((model.fc2.forward h).softmax 1) ]
    let cat (xs: Tensor list) = scope.MoveToOuter((torch.cat (xs, 0)).``to`` Float64)
    { Features = cat (List.map fst parts); Probabilities = cat (List.map snd parts) }
