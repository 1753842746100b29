/// The MLP classifier as a family of the shared training loop: the smallest model that is not a
/// VAE, trained on the mean cross-entropy of the digit labels.
module Research.Core.Models.MlpRun

open System
open Research.Core
open Research.Core.Data
open Research.Core.Families
open Research.Core.Training
open Research.Core.Metrics

type MlpConfig =
    { Hidden: int
      /// Adam's step size.
      LearningRate: float }

let defaults = { Hidden = 256; LearningRate = 1e-3 }

/// Three epochs reach about 97% on the test digits; a classifier has no image grids.
let runDefaults = { RunSettings.defaults with Epochs = 3; ImageEpochs = [] }

let validate (c: MlpConfig) =
    if c.Hidden <= 0 then invalidArg "hidden" $"--hidden must be positive (got {c.Hidden})"
    if not (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) then
        invalidArg "lr" $"--lr must be a positive, finite number (got {c.LearningRate})"
    c

let private classes = 10

let trainer (config: MlpConfig) (_: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let model = Mlp.create (generator, data.train.imageShape.Pixels, config.Hidden, classes)
    Classifier.trainer model.forward model.parameters config.LearningRate data

let family =
    let settings =
        Settings.declare
            [ Setting.int "hidden" "hidden" "hidden units" _.Hidden (fun v c -> { c with Hidden = v })
              Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v }) ]
            defaults
            validate
    Family.create "mlp" settings runDefaults trainer

/// A trained classifier from a run folder's checkpoint ("best" or "last"); the caller disposes it.
let load (folder: string, checkpoint: string) =
    let _, _, model =
        Loop.loadModel family (folder, checkpoint) (fun config -> use generator = new Generator(0L) in Mlp.create (generator, Mnist.imageShape.Pixels, config.Hidden, classes)) _.parameters
    model

/// The classifier as the registry lists it: `mlp train`; a run's report shows its metrics.
let entry =
    FamilyEntry.plain family "A multilayer perceptron classifier on MNIST."
        "Train an MLP classifier on MNIST; writes config.json, metrics.csv (loss, accuracy) and checkpoints to the run folder."
        "none: a classifier of digits, not a model of images"
