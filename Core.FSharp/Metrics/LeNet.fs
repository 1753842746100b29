/// The feature network of the sample-quality metrics: a LeNet-style classifier (LeCun et al. 1998)
/// trained on MNIST. Its 128-wide penultimate layer replaces Inception's pool features for FID, KID
/// and precision/recall (Inception is the wrong feature space for 28 x 28 digits), and its class
/// probabilities give the classifier score. It trains as a family of the shared loop (`lenet train`).
module Research.Core.Metrics.LeNet

open System
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Training

/// conv 5x5 (32) - ReLU - max-pool 2 - conv 5x5 (64) - ReLU - max-pool 2 - fc 128 - ReLU - fc 10.
type LeNet =
    { conv1: Conv2d
      conv2: Conv2d
      fc1: Linear
      fc2: Linear }

    /// The penultimate features [B; 128] of images [B; 1; 28; 28] in [0, 1].
    member m.features(x: Tensor) =
        let h = F.max_pool2d ((m.conv1.forward x).relu (), 2)
        let h = F.max_pool2d ((m.conv2.forward h).relu (), 2)
        (m.fc1.forward (h.flatten 1)).relu ()

    /// Class logits [B; 10].
    member m.forward(x: Tensor) = m.fc2.forward (m.features x)

    member m.parameters =
        Parameters.compose [ "conv1", m.conv1.parameters; "conv2", m.conv2.parameters; "fc1", m.fc1.parameters; "fc2", m.fc2.parameters ]

    interface IDisposable with
        member m.Dispose() = m.parameters.Dispose()

    static member featureSize = 128

    static member create(generator: Generator) =
        { conv1 = Conv2d.create (generator, 1, 32, 5)
          conv2 = Conv2d.create (generator, 32, 64, 5)
          fc1 = Linear.create (generator, 64 * 4 * 4, LeNet.featureSize)
          fc2 = Linear.create (generator, LeNet.featureSize, 10) }

type LeNetConfig = { LearningRate: float }

let defaults = { LearningRate = 1e-3 }

/// Ten epochs of Adam reach 99.1% on the test digits.
let runDefaults = { RunSettings.defaults with Epochs = 10; ImageEpochs = [] }

/// (mean cross-entropy, fraction classified correctly) over a subset.
let evaluate (model: LeNet) (data: ImageSubset) =
    use _ = torch.no_grad ()
    let mutable loss, correct = 0.0, 0.0
    for batch in data.batches (1000, shuffle = false) do
        use scope = new TensorScope()
        let logits = model.forward batch.x
        loss <- loss + F.cross_entropy(logits, batch.y, reduction = "sum").item ()
        correct <- correct + (logits.argmax(1).eq batch.y).sum().item ()
    loss / float data.count, correct / float data.count

let trainer (config: LeNetConfig) (_: RunSettings) (data: Mnist) (generator: Generator) : Trainer =
    let model = LeNet.create generator
    let adam = new Adam(model.parameters, lr = config.LearningRate)
    { Model = model.parameters
      Optimizers = [ "adam", adam ]
      Generators = []
      TrainColumns = [ "train_loss"; "train_accuracy" ]
      ValidationColumns = [ "val_loss"; "val_accuracy" ]
      Headline = Some { Column = "val_accuracy"; Better = Higher }
      Step =
        fun batch ->
            adam.zero_grad ()
            let logits = model.forward batch.x
            let loss = F.cross_entropy (logits, batch.y)
            loss.backward ()
            adam.step ()
            let n = float (batch.x.size 0)
            let sum = loss.item () * n
            { Loss = sum; Sums = [| sum; (logits.argmax(1).eq batch.y).sum().item () |] }
      Validate = fun () -> let loss, accuracy = evaluate model data.validation in [| loss; accuracy |]
      Images = fun _ -> [] }

let family: Family<LeNetConfig> =
    { Name = "lenet"
      Write = fun w c -> ConfigWriter.number w "lr" c.LearningRate
      Read = fun r -> { LearningRate = r.Number "lr" }
      Validate =
        fun c ->
            if not (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) then
                invalidArg "lr" $"--lr must be a positive, finite number (got {c.LearningRate})"
            c
      Differences = Differences.between [ "learning rate", (fun c -> box c.LearningRate) ]
      // Convolutions are the work: the threads go to libtorch's pool.
      Threads = fun _ threads -> threads, 1
      LoadData = fun _ settings dataFolder -> Family.mnist settings dataFolder
      Create = trainer }
