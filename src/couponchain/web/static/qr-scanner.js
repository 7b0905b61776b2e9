// One QR code reader for the pages that scan at a counter (the promotion till,
// the prize terminal): the camera, a photo, and what each says while it reads.
//
//   const scanner = window.CouponChainScanner.create({
//     camera: $("camera"), video: $("camera-video"),
//     status: () => $("scan-status"),        // where progress and errors are shown
//     prompt: t("Hold the customer's QR code in front of the camera…"),
//     take: async (code, source) => true,    // true: the code was used, stop reading
//     isNetworkError,                         // optional: offline, decode in the browser
//   });
//   scanner.start(); scanner.stop(); scanner.readPhoto(inputElement);
//
// Frames go to BarcodeDetector when the browser has one, else to the server
// (/v1/qr-decodes, zxing-cpp). With `isNetworkError`, a photo or frame the
// server cannot be reached for is decoded by BarcodeDetector if there is one
// (the prize terminal works offline).
"use strict";

(() => {
const DETECTOR_MS = 250;  // between BarcodeDetector reads of the video
const SERVER_MS = 1000;   // between frames sent to the server

async function qrDetector() {
  if (!("BarcodeDetector" in window)) return null;
  const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
  return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] })
                                     : null;
}

function create(options) {
  const { camera, video, status, prompt, take, isNetworkError } = options;
  let stream = null;

  function failed(text) {
    status().textContent = text;
    status().classList.add("error");
  }

  // The codes in an image (a photo or a video frame).
  async function codesIn(blob) {
    try {
      return (await api("/v1/qr-decodes", { method: "POST", body: blob, headers: {
        "content-type": blob.type || "application/octet-stream" } })).codes;
    } catch (error) {
      if (!isNetworkError || !isNetworkError(error) || !("BarcodeDetector" in window)) throw error;
      const found = await new window.BarcodeDetector({ formats: ["qr_code"] })
        .detect(await createImageBitmap(blob));
      return found.map((c) => c.rawValue);
    }
  }

  // source: where the image came from, in the page's language ("the photo").
  // The code taken, or null when the image holds none or `take` refused it.
  async function decode(blob, source) {
    const codes = await codesIn(blob);
    if (!codes.length) return null;
    return (await take(codes[0], source)) ? codes[0] : null;
  }

  function stop() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    camera.hidden = true;
  }

  async function start() {
    stop();
    status().classList.remove("error");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      failed(t("This browser gives no camera access here; upload a photo instead."));
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia(
        { video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      failed(t("No camera: {error}. Upload a photo instead.", { error: error.message }));
      return;
    }
    video.srcObject = stream;
    camera.hidden = false;
    await video.play();
    status().textContent = prompt;
    const detector = await qrDetector();
    const canvas = document.createElement("canvas");
    const tick = async () => {
      if (!stream) return;
      try {
        if (detector) {
          const codes = await detector.detect(video);
          if (codes.length && await take(codes[0].rawValue, t("the camera"))) { stop(); return; }
        } else if (video.videoWidth) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          canvas.getContext("2d").drawImage(video, 0, 0);
          const frame = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
          if (frame && await decode(frame, t("the camera"))) { stop(); return; }
        }
      } catch (error) {
        failed(t("Camera scan: {error}", { error: window.CouponChainPromotions.problemText(error) }));
      }
      setTimeout(tick, detector ? DETECTOR_MS : SERVER_MS);
    };
    tick();
  }

  async function readPhoto(input) {
    const file = input.files[0];
    if (!file) return;
    status().classList.remove("error");
    status().textContent = t("Reading {file}…", { file: file.name });
    try {
      if (!await decode(file, t("the photo")) && !status().classList.contains("error")) {
        failed(t("No QR code found in that photo."));
      }
    } catch (error) {
      failed(t("Photo not read: {error}", { error: window.CouponChainPromotions.problemText(error) }));
    }
    input.value = "";
  }

  return { start, stop, readPhoto, decode, failed };
}

window.CouponChainScanner = { create };
})();
