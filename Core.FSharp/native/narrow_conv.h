// A 3x3 convolution (stride 1, padding 1) from many channels, held in oneDNN's channel-blocked
// layout, to fewer than 8: the last layer of a coupling's conv net, whose 2C outputs are the scale
// and shift of C image channels. oneDNN vectorises over output channels, so with 2 of them it
// computes 8 and throws 6 away; these loops vectorise over the input channels instead.
//
// Layouts: h is [N][Cp/B][H][W][B] (aBcd8b or aBcd16b: channel c at block c / B, lane c % B, the
// padding channels up to Cp zero); y and dy are plain [N][O][H][W]; w is plain [O][C][3][3].
#pragma once
#include <cstdint>

struct NarrowConv {
  int64_t batch, channels, height, width;
  int block;    // B: 8 or 16
  int outputs;  // O: 1 to 7
};

// Cp / B: the number of channel blocks of h.
int64_t narrow_conv_blocks(const NarrowConv& c);

// Whether the loops take this case (an x86-64 CPU with AVX2 and FMA, B of 8 or 16, O below 8).
bool narrow_conv_usable(const NarrowConv& c);

// y = b + w * h.
void narrow_conv_forward(const NarrowConv& c, const float* h, const float* w, const float* b, float* y);

// dh = (w^T * dy) where h > 0, else 0: the gradient of h, and through the ReLU that produced h.
void narrow_conv_backward_data(const NarrowConv& c, const float* dy, const float* w, const float* h, float* dh);

// dw = dy * h (the correlation over the batch and the map), db = the sum of dy per channel.
void narrow_conv_backward_weights(const NarrowConv& c, const float* dy, const float* h, float* dw, float* db);
