// Demo storefront: start a checkout with the publishable key, pay in Razorpay Checkout or with
// Stripe.js (the sandbox's stand-ins in dev and test; Stripe.js runs 3-D Secure when the card asks
// for it), then let the server verify. The amount comes from the price on the server; nothing
// here is trusted.
(function () {
  "use strict";
  var config = document.getElementById("store-config").dataset;
  var errorBox = document.getElementById("store-error");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function idempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "store-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  }

  function api(path, body, key) {
    return fetch(config.api + path, {
      method: "POST",
      headers: {
        "Authorization": "Bearer " + config.key,
        "Content-Type": "application/json",
        "Idempotency-Key": key
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    });
  }

  function go(url, params) {
    var query = Object.keys(params).map(function (name) {
      return encodeURIComponent(name) + "=" + encodeURIComponent(params[name]);
    }).join("&");
    window.location.assign(url + "?" + query);
  }

  // The same key on every retry: the server answers a repeated verify with the first result.
  function verify(checkoutId, result, key, attempt) {
    return api("/checkout/razorpay/verify", result, key).then(function (answer) {
      if ((answer.status === 409 || answer.status === 503) && attempt < 5) {
        return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(function () {
          return verify(checkoutId, result, idempotencyKey(), attempt + 1);
        });
      }
      if (answer.status === 200 || answer.status === 503) {
        go(config.success, { checkout: checkoutId });
      } else {
        go(config.failure, { checkout: checkoutId, reason: (answer.data.error || {}).message || "Verification failed." });
      }
    });
  }

  function customerDetails() {
    return {
      name: document.getElementById("customer-name").value,
      email: document.getElementById("customer-email").value,
      contact: document.getElementById("customer-contact").value
    };
  }

  // Stripe: the server opens a PaymentIntent; the card goes from Stripe.js to Stripe; the server
  // then retrieves the intent itself (what the browser says of it is not believed).
  var stripeCard = null;

  function confirmStripe(checkoutId, intentId, key, attempt, failure) {
    return api("/checkout/stripe/confirm", { payment_intent: intentId }, key).then(function (answer) {
      if ((answer.status === 409 || answer.status === 503) && attempt < 5) {
        return new Promise(function (resolve) { setTimeout(resolve, 1000); }).then(function () {
          return confirmStripe(checkoutId, intentId, idempotencyKey(), attempt + 1, failure);
        });
      }
      if (answer.status === 200 && answer.data.status === "completed") {
        go(config.success, { checkout: checkoutId });
      } else if (failure || answer.status !== 200 && answer.status !== 503) {
        var reason = failure || (answer.data.error || {}).message || "The payment failed.";
        go(config.failure, { checkout: checkoutId, reason: reason });
      } else {
        go(config.success, { checkout: checkoutId });
      }
    });
  }

  function buyWithStripe(body) {
    api("/checkout/stripe/payment-intents", body, idempotencyKey()).then(function (answer) {
      if (answer.status !== 201) {
        showError((answer.data.error || {}).message || "Could not start the checkout.");
        return;
      }
      var checkout = answer.data;
      var options = checkout.stripe;
      var stripe = window.Stripe(options.publishable_key);
      var panel = document.getElementById("stripe-payment");
      var payButton = document.getElementById("stripe-pay");
      var stripeError = document.getElementById("stripe-error");
      if (!stripeCard) {
        stripeCard = stripe.elements().create("card");
        stripeCard.mount("#card-element");
      }
      document.getElementById("stripe-amount").textContent = checkout.currency + " " + (checkout.amount / 100).toFixed(2);
      panel.hidden = false;
      payButton.onclick = function () {
        payButton.disabled = true;
        stripeError.hidden = true;
        var billing = { name: document.getElementById("customer-name").value };
        stripe.confirmCardPayment(options.client_secret, { payment_method: { card: stripeCard, billing_details: billing } })
          .then(function (result) {
            payButton.disabled = false;
            if (result.error && !result.error.payment_intent) {
              stripeError.textContent = result.error.message || "The card was not accepted.";
              stripeError.hidden = false;
              return;
            }
            confirmStripe(checkout.id, options.payment_intent, idempotencyKey(), 0, result.error && result.error.message);
          });
      };
    }).catch(function () { showError("Network error; please try again."); });
  }

  function buy(form, gateway) {
    var customer = customerDetails();
    var body = { price: form.dataset.price, quantity: parseInt(form.quantity.value, 10) || 1, customer: customer };
    if (gateway === "stripe") {
      buyWithStripe(body);
      return;
    }
    api("/checkout/razorpay/orders", body, idempotencyKey()).then(function (answer) {
      if (answer.status !== 201) {
        showError((answer.data.error || {}).message || "Could not start the checkout.");
        return;
      }
      var checkout = answer.data;
      var options = Object.assign({}, checkout.razorpay, {
        handler: function (result) {
          // Only what verification takes: the API refuses parameters it does not know.
          var proof = {
            razorpay_order_id: result.razorpay_order_id,
            razorpay_payment_id: result.razorpay_payment_id,
            razorpay_signature: result.razorpay_signature
          };
          verify(checkout.id, proof, idempotencyKey(), 0);
        },
        modal: { ondismiss: function () { showError("Checkout closed; nothing was charged."); } }
      });
      var rzp = new window.Razorpay(options);
      rzp.on("payment.failed", function (response) {
        go(config.failure, { checkout: checkout.id, reason: response.error.description || "The payment failed." });
      });
      rzp.open();
    }).catch(function () { showError("Network error; please try again."); });
  }

  document.querySelectorAll("form.buy").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      buy(form, event.submitter ? event.submitter.value : "razorpay");
    });
  });
})();
