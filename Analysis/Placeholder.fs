module Research.Analysis.Placeholder
