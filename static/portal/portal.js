/* The customer portal's one script: the card form is turned into a gateway token in the browser,
   with Accept.js's dispatchData (an Authorize.Net account), Stripe.js's card element and
   createPaymentMethod (a Stripe account) or Razorpay Checkout (a Razorpay account), and only that
   token is posted to us. The card fields
   carry no name, so the form can never submit them. A Stripe card that asks for 3-D Secure is
   handled by the server: it answers the post with the bank's page. */
(function () {
  "use strict";
  var form = document.getElementById("add-card");
  if (!form) { return; }
  var errorBox = document.getElementById("card-error");
  var submitButton = form.querySelector("button[type=submit]");
  var descriptorField = document.getElementById("card-descriptor");
  var valueField = document.getElementById("card-value");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    submitButton.disabled = false;
  }

  // On submit: tokenise (once), then post the form with the token only.
  function onSubmit(tokenise) {
    form.addEventListener("submit", function (event) {
      if (valueField.value) { return; }  // tokenised already: submit it
      event.preventDefault();
      errorBox.hidden = true;
      submitButton.disabled = true;
      tokenise(function (descriptor, value) {
        descriptorField.value = descriptor;
        valueField.value = value;
        form.submit();
      });
    });
  }

  function acceptJs() {
    if (!window.Accept) { return; }
    onSubmit(function (done) {
      var expiry = document.getElementById("card-expiry").value.split("/");
      var secureData = {
        authData: { apiLoginID: form.dataset.apiLoginId, clientKey: form.dataset.clientKey },
        cardData: {
          cardNumber: document.getElementById("card-number").value.replace(/\D/g, ""),
          month: (expiry[0] || "").trim(),
          year: (expiry[1] || "").trim(),
          cardCode: document.getElementById("card-cvc").value.trim()
        }
      };
      window.Accept.dispatchData(secureData, function (response) {
        if (!response || !response.messages || response.messages.resultCode !== "Ok") {
          var message = response && response.messages && response.messages.message && response.messages.message[0];
          showError(message ? message.text : "The card could not be read.");
          return;
        }
        ["card-number", "card-expiry", "card-cvc"].forEach(function (id) { document.getElementById(id).value = ""; });
        done(response.opaqueData.dataDescriptor, response.opaqueData.dataValue);
      });
    });
  }

  function stripeJs() {
    if (!window.Stripe) { return; }
    var stripe = window.Stripe(form.dataset.publishableKey);
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    onSubmit(function (done) {
      var billing = {};
      if (form.dataset.billingName) { billing.name = form.dataset.billingName; }
      if (form.dataset.billingEmail) { billing.email = form.dataset.billingEmail; }
      stripe.createPaymentMethod({ type: "card", card: card, billing_details: billing }).then(function (result) {
        if (result.error || !result.paymentMethod) {
          showError((result.error && result.error.message) || "The card could not be read.");
          return;
        }
        card.clear();
        done(form.dataset.descriptor, result.paymentMethod.id);
      }, function () { showError("The card could not be read. Please try again."); });
    });
  }

  // Razorpay saves a card as the customer pays a setup order in Checkout (authorised, never
  // captured): the order comes from us, the card goes only to Razorpay, and Checkout's answer
  // (order, payment, signature) is the token we post.
  function razorpayCheckout() {
    if (!window.Razorpay) { return; }
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    onSubmit(function (done) {
      fetch(form.dataset.setupUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (answer) {
          if (!answer.ok || !answer.data.order_id) {
            showError((answer.data.error && answer.data.error.message) || "The card could not be set up. Please try again.");
            return;
          }
          var setup = answer.data;
          var checkout = new window.Razorpay({
            key: setup.key_id,
            order_id: setup.order_id,
            customer_id: setup.customer_id,
            recurring: 1,
            amount: setup.amount,
            currency: setup.currency,
            name: form.dataset.merchantName,
            description: "Save a card (" + setup.amount_display + " authorised, then released)",
            prefill: {
              name: form.dataset.billingName || "",
              email: form.dataset.billingEmail || "",
              contact: form.dataset.billingPhone || ""
            },
            handler: function (response) {
              done(form.dataset.descriptor, [response.razorpay_order_id, response.razorpay_payment_id, response.razorpay_signature].join("|"));
            },
            modal: { ondismiss: function () { submitButton.disabled = false; } }
          });
          checkout.on("payment.failed", function (response) {
            errorBox.textContent = (response.error && response.error.description) || "The card was not saved.";
            errorBox.hidden = false;
          });
          checkout.open();
        }, function () { showError("The card could not be set up. Please try again."); });
    });
  }

  if (form.dataset.gateway === "stripe") {
    stripeJs();
  } else if (form.dataset.gateway === "razorpay") {
    razorpayCheckout();
  } else {
    acceptJs();
  }
})();
