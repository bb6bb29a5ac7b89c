"""The report's figures: keys (every figure's key), style (look and palette), plots (drawings of runs), runs /
dataset / tradeoff (each section kind's figures), cache (drawn once, kept on disk) and draw (draw_all)."""
