/// The feature network of the sample-quality metrics: a LeNet-style classifier (LeCun et al. 1998)
/// trained on MNIST. Its 128-wide penultimate layer replaces Inception's pool features for FID, KID
/// and precision/recall (Inception is the wrong feature space for 28 x 28 digits), and its class
/// probabilities give the classifier score. It trains as a family of the shared loop (`lenet train`).
module Research.Core.Metrics.LeNet

open System
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Training
open Research.Core.Metrics

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

let trainer (config: LeNetConfig) (_: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let model = LeNet.create generator
    Classifier.trainer model.forward model.parameters config.LearningRate data

let family =
    let check c =
        if not (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) then
            invalidArg "lr" $"--lr must be a positive, finite number (got {c.LearningRate})"
        c
    let settings = Settings.declare [ Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v _ -> { LearningRate = v }) ] defaults check
    Family.create "lenet" settings runDefaults trainer
