/// What every digit classifier on the training core shares (the MLP, the LeNet feature network):
/// Adam on the mean cross-entropy of the labels, logging the loss and the accuracy.
module Research.Core.Metrics.Classifier

open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Training

/// (mean cross-entropy, fraction classified correctly) of the logits `forward` gives over a subset,
/// 1,000 images at a time.
let evaluate (forward: Tensor -> Tensor) (data: ImageSubset) =
    use _ = torch.no_grad ()
    let mutable loss, correct = 0.0, 0.0
    for batch in data.batches (1000, shuffle = false) do
        use scope = new TensorScope()
        let logits = forward batch.x
        loss <- loss + F.cross_entropy(logits, batch.y, reduction = "sum").item ()
        correct <- correct + (logits.argmax(1).eq batch.y).sum().item ()
    loss / float data.count, correct / float data.count

/// The TrainingRun of a classifier with these logits and parameters; the best checkpoint has the highest
/// validation accuracy.
let trainer (forward: Tensor -> Tensor) (parameters: Parameters) (learningRate: float) (data: Mnist) : TrainingRun =
    let adam = new Adam(parameters, lr = learningRate)
    { Model = parameters
      Optimizers = [ "adam", adam ]
      Generators = []
      TrainColumns = [ "train_loss"; "train_accuracy" ]
      ValidationColumns = [ "val_loss"; "val_accuracy" ]
      Headline = Some { Column = "val_accuracy"; Better = Higher }
      Step =
        fun batch ->
            adam.zero_grad ()
            let logits = forward batch.x
            let loss = F.cross_entropy (logits, batch.y)
            loss.backward ()
            adam.step ()
            let sum = loss.item () * float (batch.x.size 0)
            { Loss = sum; Sums = [| sum; (logits.argmax(1).eq batch.y).sum().item () |] }
      Objective = MeanOverImages
      Validate = fun () -> let loss, accuracy = evaluate forward data.validation in [| loss; accuracy |]
      Images = fun _ -> [] }
