/// plotly.js itself: pages load `plotly.min.js` from their own folder so they work offline.
/// scripts/fetch-data.sh puts the file in <data>/vendor/ (plotly.js-dist-min 3.7.0).
module Research.Analysis.Pages.PlotlyJs

open System.IO
open Research.Core.Data
open Research.Core.IO

let fileName = "plotly.min.js"

/// <data>/vendor/plotly.min.js (the data folder as every command finds it: RESEARCH_DATA, else the
/// repository's data/); a FileNotFoundException saying to run scripts/setup.sh when it is missing.
let locate () : string = DataFolder.file (Path.Combine("vendor", fileName), None)

/// Puts plotly.min.js into `folder` (next to the pages written there).
let copyBeside (folder: string) =
    AtomicFile.copyIfChanged (locate ()) (Path.Combine(folder, fileName))
