"""Forecasting numeric series: the direct multi-horizon forecaster, baselines and metrics.

- `build_forecaster`: window in, the next H values out (LSTM, causal TCN or causal attention
  backbone), scaling inside the model, optional quantile head (`PinballLoss`).
- `baselines`: persistence, seasonal naive, training mean, AutoReg and ARIMA chosen by AIC, direct linear.
- `direct_linear`: the closed-form direct ridge (or iterated AR) model, the forecaster's frozen linear part.
- `metrics`: MAE, RMSE, MASE, sMAPE per horizon step.
- `calibration`: conformal offsets for the quantile head (`QuantileCalibration`) and interval coverage.
"""

from seqkeras.models.forecaster.calibration import (QuantileCalibration, calibration_layer, conformal_offsets,
                                                    interval_coverage)
from seqkeras.models.forecaster.forecaster import BACKBONES, average_forecasters, build_backbone, build_forecaster
from seqkeras.models.forecaster.pinball_loss import PinballLoss
from seqkeras.models.forecaster.position_embedding import PositionEmbedding
